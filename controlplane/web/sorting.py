"""Sortable tables: ``?sort=key`` puts the largest (or A) first, ``?sort=-key`` the
other way; column headers link to the other order and carry ``aria-sort``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

R = TypeVar("R")


@dataclass(frozen=True)
class Column(Generic[R]):
    label: str
    value: Callable[[R], Any]
    largest_first: bool = True


def choices(columns: Mapping[str, Column[Any]]) -> list[tuple[str, str]]:
    """The ``sort`` values a form accepts: each key, and each key reversed."""
    return [(key, column.label) for key, column in columns.items()] + [
        (f"-{key}", f"{column.label}, reversed") for key, column in columns.items()
    ]


def sort_rows(rows: list[R], columns: Mapping[str, Column[R]], current: str) -> list[R]:
    column = columns[current.removeprefix("-")]
    return sorted(rows, key=column.value, reverse=column.largest_first != current.startswith("-"))


def sort_links(
    base_url: str, kept: Mapping[str, str], columns: Mapping[str, Column[Any]], current: str
) -> dict[str, dict[str, str]]:
    """Per column: the URL that sorts by it (clicked again: the other way round) and
    its aria-sort state ("" for columns not sorted by)."""
    kept = {name: value for name, value in kept.items() if value}
    reversed_now = current.startswith("-")
    links = {}
    for key, column in columns.items():
        active = current.removeprefix("-") == key
        target = f"-{key}" if active and not reversed_now else key
        state = ""
        if active:
            state = "descending" if column.largest_first != reversed_now else "ascending"
        links[key] = {
            "url": f"{base_url}?{urlencode({**kept, 'sort': target})}",
            "aria_sort": state,
        }
    return links
