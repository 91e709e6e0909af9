"""Template filters of the compliance pages."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_label(labels: dict[str, str], state: str) -> str:
    return labels.get(state, state)


@register.filter
def get_links(links: dict[Any, list[tuple[str, str]]], control_id: Any) -> list[tuple[str, str]]:
    return links.get(control_id, [])


@register.filter
def evidence_url(view: Any, record: Any) -> str:
    """Where ``view``'s person opens an evidence record."""
    return str(view.url("compliance_evidence", record.pk))


@register.filter
def criterion_url(view: Any, category: str) -> str:
    """Where ``view``'s person opens a category's page."""
    return str(view.url("compliance_criterion", category))


@register.filter
def visible_failing(status: Any, view: Any) -> list[dict[str, Any]]:
    """The failing entities of a control's latest evidence this person may see: in the
    portal (and the auditor's area), not those of the MSP-wide tests."""
    rows: list[dict[str, Any]] = []
    for test in status.tests:
        latest = test.latest
        if latest is None or latest.result not in ("fail", "exception"):
            continue
        if view.area != "console" and test.test.scope != "tenant":
            continue
        rows.extend(latest.failing_entities)
    return rows
