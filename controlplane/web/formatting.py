"""How the whole UI writes numbers: money, counts, durations, percentages.

One place, so that a count reads ``183,881`` and money ``$0.41`` on every page, chart
axis and hover. Money keeps cents, and goes below a cent only where an amount is
smaller than one (a single model call), with two significant digits.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from controlplane.dashboards.queries import TIMING_CAP_MS

CENT = Decimal("0.01")
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "C$"}


def to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        return Decimal(0)


def currency_symbol(currency: str = "USD") -> str:
    return SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def format_money(value: Any, currency: str = "USD") -> str:
    """``$1,234.50``; ``$0.00019`` for an amount under a cent; ``-$3.00``."""
    amount = to_decimal(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    symbol = currency_symbol(currency)
    if amount == 0 or amount >= CENT:
        return f"{sign}{symbol}{amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"
    exponent = amount.adjusted()  # e.g. -4 for 0.000193
    shown = amount.quantize(Decimal(1).scaleb(exponent - 1), rounding=ROUND_HALF_UP)
    return f"{sign}{symbol}{shown:f}"


def format_count(value: Any) -> str:
    """``183,881``; ``—`` for nothing known."""
    if value is None or value == "":
        return "—"
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def format_duration(seconds: float) -> str:
    if seconds <= 0:
        return "0 ms"
    if seconds < 0.001:
        return "<1 ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


def format_ms(value: Any) -> str:
    """A latency in milliseconds, ``≥ 30,000 ms`` past the coarse rollups' cap."""
    if value is None:
        return "—"
    number = float(value)
    if number != number:  # NaN: a digest with no values
        return "—"
    if number == math.inf:
        return f"≥ {TIMING_CAP_MS:,} ms"
    return f"{number:,.0f} ms" if number >= 10 else f"{number:.1f} ms"


def format_percent(part: float, whole: float) -> str:
    if not whole:
        return "—"
    return f"{part / whole * 100:.1f} %"


def format_change(now: Any, before: Any) -> str:
    """``+12 %`` or ``-8 %`` against ``before`` (``15 times`` from ten times on); ``new``
    when there was nothing before, ``""`` when there is nothing either time."""
    if not before:
        return "new" if now else ""
    ratio = float(now) / float(before)
    if ratio >= 10:  # "+38677 %" reads worse than "387 times"
        return f"{ratio:,.0f} times"
    return f"{(ratio - 1) * 100:+.0f} %"
