"""What the edge gateway saved a tenant: answers its response cache repeated, and what
auto routing paid less than sending everything to the complex tier (ClickHouse
migration 0006). Exact read (FINAL): a span inserted twice counts once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from controlplane.analytics.scoped import tenant_query

ZERO = Decimal(0)


@dataclass(frozen=True)
class GatewaySavings:
    requests: int
    cost: Decimal
    cache_hits: int
    cache_saved: Decimal
    auto_requests: int
    auto_cost: Decimal
    auto_frontier_cost: Decimal
    auto_saved: Decimal

    @property
    def saved(self) -> Decimal:
        return self.cache_saved + self.auto_saved


_SQL = """
SELECT count() AS requests,
       sum(cost) AS spent,
       countIf(cache_status = 'hit') AS cache_hits,
       sum(cache_saved) AS cache_savings,
       countIf(auto_tier != '') AS auto_requests,
       sumIf(cost, auto_tier != '') AS auto_spent,
       sum(auto_frontier_cost) AS auto_baseline,
       sum(auto_saved) AS auto_savings
FROM spans FINAL
WHERE tenant_id = {tenant_id:UUID}
  AND kind = 'model'
  AND start_time >= {start:DateTime64(6, 'UTC')}
  AND start_time < {end:DateTime64(6, 'UTC')}
  AND (NOT {limited:Bool} OR has({departments:Array(UUID)}, department_id))
"""


def gateway_savings(
    *,
    tenant_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    departments: Collection[uuid.UUID] | None = None,
) -> GatewaySavings:
    """``departments``: only their agents' requests (None: the whole tenant)."""
    params = {
        "tenant_id": tenant_id,
        "start": start,
        "end": end,
        "limited": departments is not None,
        "departments": sorted(departments or ()),
    }
    rows = tenant_query(_SQL, tenant_id=tenant_id, params=params)
    row = rows[0] if rows else {}

    def money(name: str) -> Decimal:
        return Decimal(str(row.get(name) or 0))

    return GatewaySavings(
        requests=int(row.get("requests") or 0),
        cost=money("spent"),
        cache_hits=int(row.get("cache_hits") or 0),
        cache_saved=money("cache_savings"),
        auto_requests=int(row.get("auto_requests") or 0),
        auto_cost=money("auto_spent"),
        auto_frontier_cost=money("auto_baseline"),
        auto_saved=money("auto_savings"),
    )
