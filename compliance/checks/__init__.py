"""The registry of automated control tests: one module per criterion family.

A test is a function ``(ctx: Context) -> Outcome`` registered with ``@check(key,
version=..., scope=...)``. It reads our own data through ``ctx.rows`` / ``ctx.values``
(Django querysets) and ``ctx.clickhouse`` (the functions of
``compliance.evidence_queries``), which record the exact SQL and parameters of each
query for the evidence. It returns the
population it examined (rows with a ``key``) and the entities that failed.

A test of scope ``tenant`` runs once per tenant inside ``tenant_context``; one of scope
``msp`` runs once for the MSP inside ``all_tenants_context`` (``ctx.tenant`` is None).
Bump ``version`` whenever the logic or a query changes: every evidence record carries it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db.models import Model, QuerySet

from compliance.evidence_queries import QueryResult
from tenants.models import Tenant

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Failing:
    """One entity that failed: ``key`` is ``"<type>:<id>"``, ``label`` what a person
    reads, ``reason`` why it failed."""

    key: str
    label: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "label": self.label, "reason": self.reason}


@dataclass
class Outcome:
    """What a test found. ``population`` rows are JSON-safe dicts with a ``key``; no
    secret or personal value goes in them (masked samples and counts only).
    ``population_count`` is how many entities were examined when ``population`` lists
    only some of them (a test over millions of spans keeps the failing ones)."""

    summary: str
    population: list[dict[str, Any]] = field(default_factory=list)
    population_count: int | None = None
    failing: list[Failing] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    not_applicable: bool = False


@dataclass
class Context:
    """What a test runs over: the tenant (None for the MSP), the period, and a recorder
    of the queries it makes."""

    tenant: Tenant | None
    period_start: dt.datetime
    period_end: dt.datetime
    now: dt.datetime
    queries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return self.tenant.pk if self.tenant else None

    def _record(self, queryset: QuerySet[Any]) -> bool:
        """Record the SQL of ``queryset``; False when it cannot match a row (an empty
        ``IN``), which Django does not send at all."""
        try:
            sql, params = queryset.query.sql_with_params()
        except EmptyResultSet:
            self.queries.append(
                {
                    "store": "postgresql",
                    "sql": f"-- not sent: no {queryset.model._meta.db_table} row can match",
                    "params": [],
                }
            )
            return False
        self.queries.append({"store": "postgresql", "sql": sql, "params": list(params)})
        return True

    def rows(self, queryset: QuerySet[M]) -> list[M]:
        """Evaluate ``queryset``, recording its SQL and parameters."""
        return list(queryset) if self._record(queryset) else []

    def values(self, queryset: QuerySet[Any]) -> list[Any]:
        """As ``rows``, for ``values()`` / ``values_list()`` / aggregate querysets."""
        return list(queryset) if self._record(queryset) else []

    def clickhouse(self, result: QueryResult) -> list[dict[str, Any]]:
        """Record a read of ``compliance.evidence_queries`` and return its rows."""
        self.queries.append({"store": "clickhouse", "sql": result.sql, "params": result.params})
        return result.rows

    def note(self, description: str, params: dict[str, Any] | None = None) -> None:
        """Record a read that is not a query (a settings value, a verification walk)."""
        self.queries.append({"store": "application", "sql": description, "params": params or {}})


CheckFunction = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Check:
    key: str
    version: int
    scope: str
    function: CheckFunction


REGISTRY: dict[str, Check] = {}


def check(key: str, *, version: int, scope: str = "tenant") -> Callable[[CheckFunction], Any]:
    """Register a test function under ``key``."""

    def register(function: CheckFunction) -> CheckFunction:
        if key in REGISTRY:
            raise ValueError(f"two tests registered as {key!r}")
        REGISTRY[key] = Check(key=key, version=version, scope=scope, function=function)
        return function

    return register


def registry() -> dict[str, Check]:
    """Every registered test, its family modules imported."""
    from compliance.checks import a1, c1, cc6, cc7, cc8, p, pi1  # noqa: F401

    return REGISTRY
