"""The gateway's part of the configuration bundle (docs/gateway.md): agents' profiles,
tenant policies, providers, routes, prices and budget allowances.

Pure parsing into frozen values; a bad document raises ConfigError naming the field, as
the rest of the configuration does. Every section is optional, so a plain v1 document
(devices and agent keys only) still parses and the gateway then serves nobody.
"""

from __future__ import annotations

import bisect
import calendar
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.errors import ConfigError
from edge.tokens import TokenRates

TIERS = ("simple", "standard", "complex")
PROVIDER_KINDS = ("openai", "anthropic")
INJECTION_MODES = ("block", "flag", "off")
INJECTION_STAGES = ("rules", "rules_and_classifier")
PII_MODES = ("off", "flag", "redact", "block")
BUDGET_SCOPES = ("agent", "department", "tenant")
BUDGET_PERIODS = ("day", "month")
BUDGET_KINDS = ("hard", "soft")
ANY = "*"
AUTO = "auto"
"""A request tier (never a route's): the gateway infers the tier from the request."""
AUTO_SIMPLE_MAX, AUTO_COMPLEX_MIN = 0.3, 0.5
CLASS_PRICE_KEYS = ("cached_input_per_million", "cache_write_per_million", "reasoning_per_million")

Decrypt = Callable[[str], str | None]


@dataclass(frozen=True)
class OperatingWindow:
    days: frozenset[int]
    """Weekdays, Monday = 0 (Python's ``weekday()``)."""
    start: time
    end: time | None
    """None is the end of the day (24:00). An end before the start spans midnight."""
    tz: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.tz)
        now, day = local.time().replace(tzinfo=None), local.weekday()
        end = self.end or time.max
        if self.start <= end:
            return day in self.days and self.start <= now < end
        # Overnight: the part after midnight belongs to the day the window opened.
        return (day in self.days and now >= self.start) or (
            (day - 1) % 7 in self.days and now < end
        )


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    tenant_id: str
    department_id: str | None
    role: str
    tier: str
    allowed_models: frozenset[str]
    """Empty: any model a route offers."""
    allowed_tools: frozenset[str]
    """Empty: any tool (data classes still apply)."""
    data_classes: frozenset[str]
    operating_window: OperatingWindow | None
    max_requests_per_minute: int | None = None
    """The agent's request-rate ceiling (``ratelimit.py``); None: none."""


@dataclass(frozen=True)
class TenantPolicy:
    tenant_id: str
    injection: str
    pii: str
    pii_types: tuple[str, ...]
    tool_data_classes: Mapping[str, frozenset[str]]
    cache_ttl_seconds: int = 0
    """How long the edge keeps an answer to serve identical requests again; 0: never."""
    auto_simple_max: float = AUTO_SIMPLE_MAX
    """``auto`` tier: a complexity score below this is ``simple``..."""
    auto_complex_min: float = AUTO_COMPLEX_MIN
    """... and from this on ``complex``; ``standard`` in between."""
    injection_classifier: bool = False
    """Rules + the learned stage (bundle ``injection_stage: rules_and_classifier``)."""


NO_POLICY = TenantPolicy("", injection="off", pii="off", pii_types=(), tool_data_classes={})


@dataclass(frozen=True)
class Provider:
    provider_id: str
    tenant_id: str | None
    kind: str
    base_url: str
    models: frozenset[str]
    api_key: str | None = field(default=None, repr=False)
    key_unavailable: bool = False
    """The bundle holds a secret this edge cannot decrypt (no or another node token)."""
    name: str = ""
    """The catalog name (prices of this endpoint); its kind when the bundle has none."""
    on_premises: bool = False
    """Marked by MSP staff as running in a private network (edge/outbound.py)."""

    @property
    def allow_private(self) -> bool:
        """Loopback and private addresses: for the MSP's own providers and those staff
        marked on-premises; never for the rest of a tenant's."""
        return self.tenant_id is None or self.on_premises

    @property
    def price_keys(self) -> tuple[str, ...]:
        """Where its prices are looked up: its own name first, then its vendor's."""
        return (self.name, self.kind) if self.name and self.name != self.kind else (self.kind,)


@dataclass(frozen=True)
class Candidate:
    provider_id: str
    model: str
    """A model name, or ``*``: the model the agent asked for."""
    weight: float


@dataclass(frozen=True)
class Route:
    route_id: str
    tenant_id: str | None
    tier: str
    model: str
    candidates: tuple[Candidate, ...]
    max_attempts: int
    timeout_seconds: float


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input_per_million: Decimal
    output_per_million: Decimal
    effective_from: datetime
    cached_input_per_million: Decimal | None = None
    cache_write_per_million: Decimal | None = None
    reasoning_per_million: Decimal | None = None

    @property
    def rates(self) -> TokenRates:
        return TokenRates.of(self)


class PriceTable:
    """Prices by (provider, model), effective-dated like the ledger's price book."""

    def __init__(self, prices: Sequence[Price] = ()) -> None:
        self._by_model: dict[tuple[str, str], tuple[list[datetime], list[Price]]] = {}
        for price in sorted(prices, key=lambda p: p.effective_from):
            starts, entries = self._by_model.setdefault((price.provider, price.model), ([], []))
            starts.append(price.effective_from)
            entries.append(price)

    def at(self, provider: str, model: str, moment: datetime) -> Price | None:
        found = self._by_model.get((provider, model))
        if not found:
            return None
        starts, entries = found
        index = bisect.bisect_right(starts, moment) - 1
        return entries[index] if index >= 0 else None

    def for_provider(self, provider: Provider, model: str, moment: datetime) -> Price | None:
        """The endpoint's own price, else its vendor's list price."""
        for key in provider.price_keys:
            price = self.at(key, model, moment)
            if price is not None:
                return price
        return None


@dataclass(frozen=True)
class Budget:
    budget_id: str
    tenant_id: str
    scope: str
    scope_id: str
    period: str
    period_start: datetime
    limit: Decimal
    kind: str
    allowance: Decimal

    @property
    def period_end(self) -> datetime:
        if self.period == "day":
            return self.period_start + timedelta(days=1)
        start = self.period_start
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)

    def current(self, moment: datetime) -> Budget:
        """This budget for the period that contains ``moment`` with nothing allowed: what
        applies when the bundle has no entry for that period yet (periods are UTC days
        and months)."""
        moment = moment.astimezone(UTC)
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "month":
            start = start.replace(day=1)
        return replace(self, period_start=start, allowance=Decimal(0))

    @property
    def key(self) -> tuple[str, str]:
        """Where the edge's cumulative spend of this budget and period is kept."""
        return self.budget_id, self.period_start.isoformat()


@dataclass(frozen=True)
class GatewayConfig:
    agents: Mapping[str, AgentProfile] = field(default_factory=dict)
    policies: Mapping[str, TenantPolicy] = field(default_factory=dict)
    providers: Mapping[str, Provider] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    prices: PriceTable = field(default_factory=PriceTable)
    budgets: tuple[Budget, ...] = ()
    issued_at: datetime | None = None


# --- field readers -------------------------------------------------------------------


def _get(doc: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise ConfigError(f"{where}{key} is required")
    return doc[key]


def _uuid(value: Any, where: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise ConfigError(f"{where} must be a UUID") from None


def _opt_uuid(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    return None if value is None else _uuid(value, f"{where}{key}")


def _text(doc: Mapping[str, Any], key: str, where: str, *, default: str | None = None) -> str:
    value = doc.get(key, default) if default is not None else _get(doc, key, where)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}{key} must be a non-empty string")
    return value


def _choice(
    doc: Mapping[str, Any], key: str, where: str, choices: Sequence[str], default: str | None = None
) -> str:
    value = doc.get(key, default) if default is not None else _get(doc, key, where)
    if value not in choices:
        raise ConfigError(f"{where}{key} must be one of {', '.join(choices)}")
    return str(value)


def _strings(doc: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{where}{key} must be an array of strings")
    return tuple(dict.fromkeys(value))


def _decimal(doc: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _get(doc, key, where)
    # Money travels as Decimal strings; a float would already have lost the cents.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{where}{key} must be a decimal string")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ConfigError(f"{where}{key} must be a decimal string") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"{where}{key} must be a non-negative decimal")
    return amount


def _number(doc: Mapping[str, Any], key: str, where: str, default: float, minimum: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{where}{key} must be a number of at least {minimum}")
    return float(value)


def _timestamp(doc: Mapping[str, Any], key: str, where: str) -> datetime:
    value = _get(doc, key, where)
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}{key} must be an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{where}{key} must carry a time zone (e.g. Z)")
    return moment.astimezone(UTC)


def _clock(value: Any, where: str, *, end: bool) -> time | None:
    if end and value == "24:00":
        return None
    try:
        hours, minutes = (int(part) for part in value.split(":"))
        return time(hours, minutes)
    except (AttributeError, TypeError, ValueError):
        raise ConfigError(f"{where} must be HH:MM") from None


def _objects(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = doc.get(key, [])
    if not isinstance(items, list):
        raise ConfigError(f"{key} must be an array")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{key}[{index}] must be an object")
    return items


# --- sections --------------------------------------------------------------------------


def _window(value: Any, where: str) -> OperatingWindow | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be an object or null")
    days = value.get("days", list(range(7)))
    if not isinstance(days, list) or not all(
        isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6 for day in days
    ):
        raise ConfigError(f"{where}.days must be weekdays 0 (Monday) to 6")
    try:
        tz = ZoneInfo(_text(value, "tz", f"{where}.", default="UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.tz is not a known time zone") from None
    start = _clock(value.get("start", "00:00"), f"{where}.start", end=False)
    assert start is not None
    return OperatingWindow(
        days=frozenset(days),
        start=start,
        end=_clock(value.get("end", "24:00"), f"{where}.end", end=True),
        tz=tz,
    )


def _agent(item: Mapping[str, Any], where: str) -> AgentProfile:
    return AgentProfile(
        agent_id=_uuid(_get(item, "agent_id", where), f"{where}agent_id"),
        tenant_id=_uuid(_get(item, "tenant_id", where), f"{where}tenant_id"),
        department_id=_opt_uuid(item, "department_id", where),
        role=str(item.get("role") or ""),
        tier=_choice(item, "tier", where, (*TIERS, AUTO), default="standard"),
        allowed_models=frozenset(_strings(item, "allowed_models", where)),
        allowed_tools=frozenset(_strings(item, "allowed_tools", where)),
        data_classes=frozenset(_strings(item, "data_classes", where)),
        operating_window=_window(item.get("operating_window"), f"{where}operating_window"),
        max_requests_per_minute=_ceiling(item, "max_requests_per_minute", where),
    )


def _ceiling(item: Mapping[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}{key} must be a positive integer or null")
    return value


def _policy(item: Mapping[str, Any], where: str) -> TenantPolicy:
    mapping = item.get("tool_data_classes") or {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}tool_data_classes must be an object")
    tool_classes = {
        tool: frozenset(_strings(mapping, tool, f"{where}tool_data_classes.")) for tool in mapping
    }
    return TenantPolicy(
        tenant_id=_uuid(_get(item, "tenant_id", where), f"{where}tenant_id"),
        injection=_choice(item, "injection", where, INJECTION_MODES, default="block"),
        pii=_choice(item, "pii", where, PII_MODES, default="off"),
        pii_types=_strings(item, "pii_types", where),
        tool_data_classes=tool_classes,
        cache_ttl_seconds=int(_number(item, "cache_ttl_seconds", where, 0, 0)),
        auto_simple_max=_number(item, "auto_simple_max", where, AUTO_SIMPLE_MAX, 0),
        auto_complex_min=_number(item, "auto_complex_min", where, AUTO_COMPLEX_MIN, 0),
        injection_classifier=_choice(
            item, "injection_stage", where, INJECTION_STAGES, default="rules"
        )
        == "rules_and_classifier",
    )


def _provider(item: Mapping[str, Any], where: str, decrypt: Decrypt | None) -> Provider:
    base_url = _text(item, "base_url", where)
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}base_url must be an http(s) URL")
    secret = item.get("api_key_enc")
    if secret is not None and not isinstance(secret, str):
        raise ConfigError(f"{where}api_key_enc must be a string or null")
    api_key = decrypt(secret) if secret and decrypt else None
    on_premises = item.get("on_premises", False)
    if not isinstance(on_premises, bool):
        raise ConfigError(f"{where}on_premises must be true or false")
    return Provider(
        provider_id=_text(item, "provider_id", where),
        tenant_id=_opt_uuid(item, "tenant_id", where),
        kind=_choice(item, "kind", where, PROVIDER_KINDS),
        base_url=base_url.rstrip("/"),
        models=frozenset(_strings(item, "models", where)),
        api_key=api_key,
        key_unavailable=bool(secret) and api_key is None,
        name=str(item.get("name") or ""),
        on_premises=on_premises,
    )


def _route(item: Mapping[str, Any], where: str, providers: Mapping[str, Provider]) -> Route:
    tenant_id = _opt_uuid(item, "tenant_id", where)
    candidates = []
    for index, raw in enumerate(_objects(item, "candidates") if "candidates" in item else []):
        spot = f"{where}candidates[{index}]."
        provider_id = _text(raw, "provider_id", spot)
        provider = providers.get(provider_id)
        if provider is None:
            raise ConfigError(f"{spot}provider_id {provider_id} is not in providers")
        if provider.tenant_id is not None and provider.tenant_id != tenant_id:
            # Another tenant's provider would spend that tenant's key on our requests.
            raise ConfigError(f"{spot}provider_id {provider_id} belongs to another tenant")
        candidates.append(
            Candidate(
                provider_id=provider_id,
                model=_text(raw, "model", spot, default=ANY),
                weight=_number(raw, "weight", spot, 1, 0),
            )
        )
    if not candidates:
        raise ConfigError(f"{where}candidates must list at least one provider")
    return Route(
        route_id=_text(item, "route_id", where),
        tenant_id=tenant_id,
        tier=_choice(item, "tier", where, (*TIERS, ANY), default=ANY),
        model=_text(item, "model", where, default=ANY),
        candidates=tuple(candidates),
        max_attempts=int(_number(item, "max_attempts", where, 3, 1)),
        timeout_seconds=_number(item, "timeout_seconds", where, 30, 0.001),
    )


def _price(item: Mapping[str, Any], where: str) -> Price:
    return Price(
        provider=_text(item, "provider", where),
        model=_text(item, "model", where),
        input_per_million=_decimal(item, "input_per_million", where),
        output_per_million=_decimal(item, "output_per_million", where),
        effective_from=_timestamp(item, "effective_from", where),
        # Optional: bundles from before token classes had no such prices.
        **{
            key: _decimal(item, key, where) for key in CLASS_PRICE_KEYS if item.get(key) is not None
        },
    )


def _budget(item: Mapping[str, Any], where: str) -> Budget:
    return Budget(
        budget_id=_text(item, "budget_id", where),
        tenant_id=_uuid(_get(item, "tenant_id", where), f"{where}tenant_id"),
        scope=_choice(item, "scope", where, BUDGET_SCOPES),
        scope_id=_uuid(_get(item, "scope_id", where), f"{where}scope_id"),
        period=_choice(item, "period", where, BUDGET_PERIODS),
        period_start=_timestamp(item, "period_start", where),
        limit=_decimal(item, "limit", where),
        kind=_choice(item, "kind", where, BUDGET_KINDS),
        allowance=_decimal(item, "allowance", where),
    )


def _unique(items: Sequence[Any], key: Callable[[Any], Any], section: str, name: str) -> None:
    seen = set()
    for index, item in enumerate(items):
        value = key(item)
        if value in seen:
            raise ConfigError(f"{section}[{index}].{name} is listed twice")
        seen.add(value)


def parse_gateway(doc: Mapping[str, Any], decrypt: Decrypt | None = None) -> GatewayConfig:
    """The gateway sections of a configuration payload; ``decrypt`` opens provider
    secrets (None when this edge has no node token)."""
    agents = [_agent(item, f"agents[{i}].") for i, item in enumerate(_objects(doc, "agents"))]
    _unique(agents, lambda a: a.agent_id, "agents", "agent_id")
    policies = [
        _policy(item, f"policies[{i}].") for i, item in enumerate(_objects(doc, "policies"))
    ]
    _unique(policies, lambda p: p.tenant_id, "policies", "tenant_id")
    providers = [
        _provider(item, f"providers[{i}].", decrypt)
        for i, item in enumerate(_objects(doc, "providers"))
    ]
    _unique(providers, lambda p: p.provider_id, "providers", "provider_id")
    by_id = {provider.provider_id: provider for provider in providers}
    routes = [
        _route(item, f"routes[{i}].", by_id) for i, item in enumerate(_objects(doc, "routes"))
    ]
    _unique(routes, lambda r: r.route_id, "routes", "route_id")
    prices = [_price(item, f"prices[{i}].") for i, item in enumerate(_objects(doc, "prices"))]
    budgets = [_budget(item, f"budgets[{i}].") for i, item in enumerate(_objects(doc, "budgets"))]
    _unique(budgets, lambda b: b.key, "budgets", "period_start")
    issued_at = _timestamp(doc, "issued_at", "") if doc.get("issued_at") else None
    return GatewayConfig(
        agents={agent.agent_id: agent for agent in agents},
        policies={policy.tenant_id: policy for policy in policies},
        providers=by_id,
        routes=tuple(routes),
        prices=PriceTable(prices),
        budgets=tuple(budgets),
        issued_at=issued_at,
    )
