"""Rating: the ledger's token counts turned into provider cost per token class, per day,
department, agent, provider and model (``RatedUsage``), append-only and idempotent.

Each rating compares the ledger with what is already rated, key by key, and appends
only the differences as the key's next revision. Rating the same ledger again adds
nothing; an event that arrives late adds a row of its own, which the open draft bills
(or, once its month is closed, the next invoice as an adjustment).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import Decimal

from django.db import connection
from django.db.models import Max, Sum

from billing.models import ModelPrice, RatedUsage
from controlplane.core.tenancy import tenant_context
from edge.tokens import MILLION, TOKEN_CLASSES, TokenRates

RatingKey = tuple[dt.date, uuid.UUID | None, uuid.UUID, str, str, str]

# Token counts per class of every (day, department, agent, provider, model) and the
# price in force at each event: prices are effective-dated, so one day can span two
# prices. Each price's validity ends where the next one of its model starts; the ledger
# joins those ranges by model (a hash join, not a lookup per event).
_LEDGER_BY_KEY = """
WITH prices AS (
  SELECT p.id, p.provider, p.model, p.effective_from,
         lead(p.effective_from) OVER (
           PARTITION BY p.provider, p.model ORDER BY p.effective_from
         ) AS effective_until
    FROM billing_modelprice p
)
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date AS day, e.department_id, e.agent_id,
       e.provider, e.model, p.id AS price_id,
       sum(e.input_tokens - e.cached_input_tokens - e.cache_write_tokens),
       sum(e.cached_input_tokens), sum(e.cache_write_tokens),
       sum(e.output_tokens - e.reasoning_tokens), sum(e.reasoning_tokens)
  FROM telemetry_usageevent e
  LEFT JOIN prices p
    ON p.provider = e.provider AND p.model = e.model
   AND p.effective_from <= e.occurred_at
   AND (p.effective_until IS NULL OR e.occurred_at < p.effective_until)
 WHERE e.tenant_id = %s AND e.occurred_at >= %s AND e.occurred_at < %s
   AND (e.input_tokens > 0 OR e.output_tokens > 0)
 GROUP BY 1, 2, 3, 4, 5, 6
"""


def ledger_totals(
    *, tenant_id: uuid.UUID, since: dt.datetime, until: dt.datetime
) -> dict[RatingKey, tuple[int, Decimal]]:
    """Tokens and exact provider cost per rating key, from the ledger."""
    rates: dict[uuid.UUID, dict[str, Decimal]] = {}
    tokens: dict[RatingKey, int] = defaultdict(int)
    costs: dict[RatingKey, Decimal] = defaultdict(Decimal)
    with tenant_context(tenant_id), connection.cursor() as cursor:
        cursor.execute(_LEDGER_BY_KEY, [tenant_id, since, until])
        rows = cursor.fetchall()
        price_ids = {row[5] for row in rows if row[5] is not None}
        for price in ModelPrice.objects.filter(pk__in=price_ids):
            rates[price.pk] = price.rates().per_million()
    unpriced = TokenRates(Decimal(0), Decimal(0)).per_million()
    for day, department, agent, provider, model, price_id, *counts in rows:
        per_million = rates.get(price_id, unpriced)
        for token_class, count in zip(TOKEN_CLASSES, counts, strict=True):
            if count:
                key = (day, department, agent, provider, model, token_class)
                tokens[key] += int(count)
                costs[key] += per_million[token_class] * count / MILLION
    return {key: (count, costs[key]) for key, count in tokens.items()}


def usage_rate(*, tenant_id: uuid.UUID, since: dt.date, until: dt.date) -> int:
    """Append what the ledger has for the days ``[since, until)`` and the rated usage
    lacks. Returns how many rows were appended."""
    start = dt.datetime.combine(since, dt.time(), dt.UTC)
    end = dt.datetime.combine(until, dt.time(), dt.UTC)
    ledger = ledger_totals(tenant_id=tenant_id, since=start, until=end)
    with tenant_context(tenant_id):
        rated = {
            tuple(row[name] for name in RatedUsage.KEY): (
                row["tokens"],
                row["cost"],
                row["revision"],
            )
            for row in RatedUsage.objects.filter(day__gte=since, day__lt=until)
            .values(*RatedUsage.KEY)
            .annotate(tokens=Sum("tokens"), cost=Sum("cost"), revision=Max("revision"))
        }
        appended = []
        for key in set(ledger) | set(rated):
            tokens, cost = ledger.get(key, (0, Decimal(0)))
            have_tokens, have_cost, revision = rated.get(key, (0, Decimal(0), -1))
            if tokens == have_tokens and cost == have_cost:
                continue
            day, department, agent, provider, model, token_class = key
            appended.append(
                RatedUsage(
                    tenant_id=tenant_id,
                    day=day,
                    department_id=department,
                    agent_id=agent,
                    provider=provider,
                    model=model,
                    token_class=token_class,
                    revision=revision + 1,
                    tokens=tokens - have_tokens,
                    cost=cost - have_cost,
                )
            )
        # A concurrent rating that appended the same revision first wins; ours is
        # dropped, and the next rating sees the key settled.
        created = RatedUsage.objects.bulk_create(appended, ignore_conflicts=True)
    return len(created)
