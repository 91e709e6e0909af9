"""What the gateway saved a tenant, from the spans' attributes (ClickHouse 0006): cache
hits and auto routing against the complex tier, one tenant at a time, a span inserted
twice counted once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from controlplane.analytics import get_store
from controlplane.gateway.savings import gateway_savings
from tests.analytics.helpers import MINUTE, insert_spans, span


def gateway_span(tenant: uuid.UUID, cost: str, **attributes: Any) -> dict[str, Any]:
    return span(tenant_id=tenant, cost=Decimal(cost), attributes=json.dumps(attributes))


def test_savings_add_up_per_tenant() -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    hit = gateway_span(
        tenant, "0", **{"acp.gateway.cache": "hit", "acp.gateway.cache_saved": "0.0042"}
    )
    auto_simple = gateway_span(
        tenant,
        "0.0010",
        **{
            "acp.gateway.cache": "miss",
            "acp.gateway.auto.tier": "simple",
            "acp.gateway.auto.frontier_cost": "0.0070",
            "acp.gateway.auto.saved": "0.0060",
        },
    )
    auto_complex = gateway_span(
        tenant,
        "0.0300",
        **{
            "acp.gateway.auto.tier": "complex",
            "acp.gateway.auto.frontier_cost": "0.0300",
            "acp.gateway.auto.saved": "0",
        },
    )
    chosen_by_agent = gateway_span(tenant, "0.0500")
    theirs = gateway_span(
        other, "0", **{"acp.gateway.cache": "hit", "acp.gateway.cache_saved": "9"}
    )
    store = get_store()
    insert_spans(store, [hit, auto_simple, auto_complex, chosen_by_agent, theirs])
    insert_spans(store, [hit])  # delivered twice

    window = {"start": MINUTE - dt.timedelta(hours=1), "end": MINUTE + dt.timedelta(hours=1)}
    savings = gateway_savings(tenant_id=tenant, **window)
    assert (savings.requests, savings.cache_hits, savings.auto_requests) == (4, 1, 2)
    assert savings.cache_saved == Decimal("0.0042")
    assert savings.auto_frontier_cost == Decimal("0.0370")
    assert savings.auto_cost == Decimal("0.0310")
    assert savings.auto_saved == Decimal("0.0060")
    assert savings.saved == Decimal("0.0102")
    assert savings.cost == Decimal("0.0810")

    assert gateway_savings(tenant_id=other, **window).cache_saved == Decimal(9)
    nobody = gateway_savings(tenant_id=tenant, departments=[uuid.uuid4()], **window)
    assert nobody.requests == 0, "a member limited to departments sees their agents only"
    mine = gateway_savings(tenant_id=tenant, departments=[uuid.UUID(int=0)], **window)
    assert mine.requests == 4
    later = {"start": MINUTE + dt.timedelta(hours=1), "end": MINUTE + dt.timedelta(hours=2)}
    assert gateway_savings(tenant_id=tenant, **later).requests == 0
