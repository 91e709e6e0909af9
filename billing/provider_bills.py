"""Reconciliation against the providers' own bills.

The MSP imports what OpenAI and Anthropic report (their usage and cost exports, JSON as
their admin APIs return it, or a plain CSV), and each provider, day, model and token
class is compared with the ledger. A difference beyond the tolerance is flagged with
its likely cause:

- ``missing ingestion``: the provider counted more tokens than the ledger has (calls
  that bypassed the gateway, or an edge node not pulled yet);
- ``double counting``: the ledger has more tokens than the provider billed (usage of
  another provider account under the same name, or events counted twice);
- ``formula``: the day's tokens agree in total but not per class (cached, cache-write or
  reasoning tokens split differently from the provider);
- ``price table``: the tokens agree but the cost does not (our price of that model and
  class differs from the provider's).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from billing.models import ModelPrice, ProviderCostLine
from controlplane.core.tenancy import all_tenants_context
from edge.tokens import MILLION, TOKEN_CLASSES, TokenRates

FORMATS = ("csv", "openai-usage", "openai-costs", "anthropic-usage", "anthropic-costs")
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
# OpenAI's cost line items ("gpt-4o-mini-2024-07-18, cached input") and Anthropic's
# token types, as our token classes.
_OPENAI_ITEMS = {"input": "input", "cached input": "cached_input", "output": "output"}
_ANTHROPIC_TYPES = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cached_input",
    "output_tokens": "output",
}
Key = tuple[dt.date, str, str]  # day, model, token class
ZERO = Decimal(0)
CENT = Decimal("0.01")


def base_model(name: str) -> str:
    """A model name without the release date providers add (``gpt-4o-mini-2024-07-18``)."""
    return _DATED.sub("", name.strip())


@dataclass
class Billed:
    tokens: int | None = None
    cost: Decimal | None = None


def _day(value: Any, field: str) -> dt.date:
    try:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC).date()
        return dt.date.fromisoformat(str(value)[:10])
    except (ValueError, OverflowError, OSError):
        raise ValidationError({field: f"not a date: {value!r}"}) from None


def _decimal(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({field: f"not a number: {value!r}"}) from None
    if not amount.is_finite():
        raise ValidationError({field: f"not a number: {value!r}"})
    return amount


def _buckets(doc: Any) -> Iterator[tuple[dt.date, dict[str, Any]]]:
    """(day, result) of an admin API page: ``data`` buckets with ``results``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValidationError({"content": "expected a JSON page with a data list"})
    for index, bucket in enumerate(doc["data"]):
        start = bucket.get("start_time", bucket.get("starting_at"))
        day = _day(start, f"data[{index}].start_time")
        for result in bucket.get("results") or []:
            if isinstance(result, dict):
                yield day, result


def parse_export(kind: str, content: str) -> dict[Key, Billed]:
    """What an export says per day, model and token class."""
    if kind not in FORMATS:
        raise ValidationError({"format": f"one of {', '.join(FORMATS)}"})
    billed: dict[Key, Billed] = defaultdict(Billed)

    def add(
        day: dt.date, model: str, token_class: str, tokens: Any = None, cost: Any = None
    ) -> None:
        entry = billed[(day, base_model(model), token_class)]
        if tokens is not None:
            entry.tokens = (entry.tokens or 0) + int(_decimal(tokens, "tokens"))
        if cost is not None:
            entry.cost = (entry.cost or Decimal(0)) + _decimal(cost, "cost")

    if kind == "csv":
        reader = csv.DictReader(io.StringIO(content))
        missing = {"day", "model", "token_class"} - set(reader.fieldnames or [])
        if missing:
            raise ValidationError({"content": f"CSV columns missing: {', '.join(sorted(missing))}"})
        for row in reader:
            if row["token_class"] not in TOKEN_CLASSES:
                raise ValidationError({"token_class": f"one of {', '.join(TOKEN_CLASSES)}"})
            add(
                _day(row["day"], "day"),
                row["model"],
                row["token_class"],
                row.get("tokens") or None,
                row.get("cost") or None,
            )
        return dict(billed)
    try:
        doc = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValidationError({"content": f"not JSON: {exc}"}) from None
    for day, result in _buckets(doc):
        model = str(result.get("model") or "")
        if kind == "openai-usage":
            cached = int(result.get("input_cached_tokens") or 0)
            add(day, model, "input", int(result.get("input_tokens") or 0) - cached)
            add(day, model, "cached_input", cached)
            add(day, model, "output", result.get("output_tokens") or 0)
        elif kind == "anthropic-usage":
            add(day, model, "input", result.get("uncached_input_tokens") or 0)
            add(day, model, "cached_input", result.get("cache_read_input_tokens") or 0)
            writes = result.get("cache_creation") or {}
            add(day, model, "cache_write", sum(int(v or 0) for v in writes.values()))
            add(day, model, "output", result.get("output_tokens") or 0)
        elif kind == "openai-costs":
            item = str(result.get("line_item") or "")
            name, _, part = item.rpartition(", ")
            if part in _OPENAI_ITEMS:
                add(day, name, _OPENAI_ITEMS[part], cost=(result.get("amount") or {}).get("value"))
        else:  # anthropic-costs: amounts in cents
            token_type = str(result.get("token_type") or "")
            token_class = (
                "cache_write"
                if token_type.startswith("cache_creation")
                else _ANTHROPIC_TYPES.get(token_type)
            )
            if token_class and result.get("amount") is not None:
                add(day, model, token_class, cost=_decimal(result["amount"], "amount") / 100)
    return {key: entry for key, entry in billed.items() if entry.tokens or entry.cost}


def export_import(*, provider: str, kind: str, content: str, source: str) -> int:
    """Store an export's lines (a usage export sets tokens, a cost export costs; importing
    one again replaces what it said). Returns how many lines it had."""
    lines = parse_export(kind, content)
    with transaction.atomic():
        for (day, model, token_class), entry in lines.items():
            values: dict[str, Any] = {"source": source[:200]}
            if entry.tokens is not None:
                values["tokens"] = entry.tokens
            if entry.cost is not None:
                values["cost"] = entry.cost
            ProviderCostLine.objects.update_or_create(
                provider=provider, day=day, model=model, token_class=token_class, defaults=values
            )
    return len(lines)


_LEDGER_BY_DAY = """
SELECT (e.occurred_at AT TIME ZONE 'UTC')::date, e.model,
       (SELECT p.id FROM billing_modelprice p
         WHERE p.provider = e.provider AND p.model = e.model
           AND p.effective_from <= e.occurred_at
         ORDER BY p.effective_from DESC LIMIT 1),
       sum(e.input_tokens - e.cached_input_tokens - e.cache_write_tokens),
       sum(e.cached_input_tokens), sum(e.cache_write_tokens),
       sum(e.output_tokens - e.reasoning_tokens), sum(e.reasoning_tokens)
  FROM telemetry_usageevent e
 WHERE e.provider = %s AND e.occurred_at >= %s AND e.occurred_at < %s
 GROUP BY 1, 2, 3
"""


def _ledger(provider: str, since: dt.date, until: dt.date) -> dict[Key, Billed]:
    """Every tenant's ledger for the provider, per day, model (without its date) and
    class, priced like the ledger."""
    start = dt.datetime.combine(since, dt.time(), dt.UTC)
    end = dt.datetime.combine(until, dt.time(), dt.UTC)
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(_LEDGER_BY_DAY, [provider, start, end])
        rows = cursor.fetchall()
        prices = {
            price.pk: price.rates().per_million()
            for price in ModelPrice.objects.filter(pk__in={row[2] for row in rows})
        }
    unpriced = TokenRates(Decimal(0), Decimal(0)).per_million()
    ledger: dict[Key, Billed] = defaultdict(lambda: Billed(0, Decimal(0)))
    for day, model, price_id, *counts in rows:
        rates = prices.get(price_id, unpriced)
        for token_class, count in zip(TOKEN_CLASSES, counts, strict=True):
            if count:
                entry = ledger[(day, base_model(model), token_class)]
                entry.tokens = (entry.tokens or 0) + int(count)
                entry.cost = (entry.cost or Decimal(0)) + rates[token_class] * count / MILLION
    return dict(ledger)


@dataclass(frozen=True)
class Finding:
    provider: str
    day: dt.date
    model: str
    token_class: str
    provider_tokens: int | None
    ledger_tokens: int
    provider_cost: Decimal | None
    ledger_cost: Decimal
    cause: str
    """Empty when the two agree within the tolerance."""


def _differs(a: Decimal | int, b: Decimal | int, tolerance: Decimal, floor: Decimal) -> bool:
    return abs(Decimal(a) - Decimal(b)) > max(
        floor, tolerance * max(abs(Decimal(a)), abs(Decimal(b)))
    )


def provider_reconcile(
    *, provider: str, since: dt.date, until: dt.date, tolerance: Decimal = Decimal("0.01")
) -> list[Finding]:
    """Each day, model and class of ``[since, until)`` that either side has, compared.
    ``tolerance`` is relative (1 %); costs also differ by at least a cent."""
    billed = {
        (line.day, line.model, line.token_class): Billed(line.tokens, line.cost)
        for line in ProviderCostLine.objects.filter(
            provider=provider, day__gte=since, day__lt=until
        )
    }
    ledger = _ledger(provider, since, until)
    totals: dict[tuple[dt.date, str], list[int]] = defaultdict(lambda: [0, 0])
    for (day, model, _), entry in billed.items():
        totals[(day, model)][0] += entry.tokens or 0
    for (day, model, _), entry in ledger.items():
        totals[(day, model)][1] += entry.tokens or 0
    findings = []
    for key in sorted(set(billed) | set(ledger)):
        theirs, ours = billed.get(key, Billed()), ledger.get(key, Billed(0, Decimal(0)))
        day, model, token_class = key
        our_tokens, our_cost = ours.tokens or 0, ours.cost or Decimal(0)
        # A key the export does not have at all: the provider billed none of it.
        their_tokens = theirs.tokens if key in billed else 0
        cause = ""
        if their_tokens is not None and _differs(their_tokens, our_tokens, tolerance, ZERO):
            provider_total, ledger_total = totals[(day, model)]
            if not _differs(provider_total, ledger_total, tolerance, ZERO):
                cause = "formula"
            elif their_tokens > our_tokens:
                cause = "missing ingestion"
            else:
                cause = "double counting"
        elif theirs.cost is not None and _differs(theirs.cost, our_cost, tolerance, CENT):
            cause = "price table"
        findings.append(
            Finding(
                provider,
                day,
                model,
                token_class,
                their_tokens,
                our_tokens,
                theirs.cost,
                our_cost.quantize(Decimal("0.000001")),
                cause,
            )
        )
    return findings


def flagged(findings: Iterable[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.cause]
