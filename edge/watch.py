"""The edge's fast path of behavioural security (docs/security.md, "The edge fast path").

The bundle's optional ``watch`` section carries, per agent, the scope allow-sets the
control plane learned from its baselines (tools, collections, data classifications,
provider/models, outside hosts) and its learned ceilings (tokens and returned rows a
minute). The edge checks every model call (gateway) and every span (collector) against
them in-process:

- an item outside its allow-set is a *scope* finding; a model call carrying one is
  refused (403 ``security.scope``) when the agent's mode is ``refuse``, else served and
  flagged. A span is never refused (it is evidence), only flagged;
- tokens or rows over a ceiling within the last minute are a *ceiling* finding; in
  ``refuse`` mode the agent's model calls get 429 ``security.ceiling`` until the minute
  falls back under it;
- a span that started in the last ten minutes, in an hour of the week outside the
  agent's working ``hours`` (its learned and configured operating windows), is a
  *temporal* finding (flagged only; an agent without ``hours`` is not checked).

Findings wait in memory until the control plane pulls them (``GET /v1/security/findings``
then ``POST /v1/security/findings/ack``, at every pull) and raises them as alerts. The
same agent and item is reported again at most once an hour. A finding not yet pulled is
lost if the edge restarts; the detectors still see the spans.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge.errors import ConfigError
from edge.gateway.verdicts import Refusal

DIMENSIONS = ("tool", "collection", "classification", "model", "host")
MODES = ("flag", "refuse")
MAX_FINDINGS = 1000
REPORT_AGAIN_SECONDS = 3600.0
WINDOW_SECONDS = 60.0
HOURS_OF_WEEK = 168
LATE_SECONDS = 600.0
"""A span that started longer ago (history sent late) is not judged for its time, as
the detectors do not judge late data for time."""
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ANY_PROVIDER = "*/"
"""A model call names a model before routing picks its provider: ``*/model`` matches a
known ``provider/model`` of any provider."""


@dataclass(frozen=True)
class AgentWatch:
    mode: str = "flag"
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Dimension → the items the agent is known to use; a dimension absent is not checked."""
    max_tokens_per_minute: int | None = None
    max_rows_per_minute: int | None = None
    hours: frozenset[int] | None = None
    """Hours of the week (UTC, Monday 00:00 = 0) the agent works in; None: not checked."""


def parse_watch(doc: Mapping[str, Any]) -> dict[str, AgentWatch]:
    """The optional ``watch`` section, by agent id; absent (an older control plane) is
    empty. A malformed one is refused naming the field."""
    section = doc.get("watch") or {}
    if not isinstance(section, dict):
        raise ConfigError("watch must be an object")
    agents = section.get("agents", [])
    if not isinstance(agents, list):
        raise ConfigError("watch.agents must be an array")
    result = {}
    for index, item in enumerate(agents):
        where = f"watch.agents[{index}]."
        if not isinstance(item, dict):
            raise ConfigError(f"watch.agents[{index}] must be an object")
        agent_id = item.get("agent_id")
        if not isinstance(agent_id, str) or not agent_id:
            raise ConfigError(f"{where}agent_id must be a string")
        mode = item.get("mode", "flag")
        if mode not in MODES:
            raise ConfigError(f"{where}mode must be one of {', '.join(MODES)}")
        allow = item.get("allow") or {}
        if not isinstance(allow, dict):
            raise ConfigError(f"{where}allow must be an object")
        sets = {}
        for dimension, items in allow.items():
            if dimension not in DIMENSIONS:
                raise ConfigError(f"{where}allow.{dimension} is not one of {', '.join(DIMENSIONS)}")
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{where}allow.{dimension} must be an array of strings")
            sets[dimension] = frozenset(items)
        result[agent_id] = AgentWatch(
            mode=mode,
            allow=sets,
            max_tokens_per_minute=_ceiling(item, "max_tokens_per_minute", where),
            max_rows_per_minute=_ceiling(item, "max_rows_per_minute", where),
            hours=_hours(item, where),
        )
    return result


def _hours(item: Mapping[str, Any], where: str) -> frozenset[int] | None:
    value = item.get("hours")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) and 0 <= h < HOURS_OF_WEEK for h in value
    ):
        raise ConfigError(f"{where}hours must be an array of hours of the week (0-167) or null")
    return frozenset(value)


def hour_of_week(unix_nano: int) -> int:
    moment = datetime.fromtimestamp(unix_nano / 1e9, UTC)
    return moment.weekday() * 24 + moment.hour


def hour_label(hour: int) -> str:
    return f"{DAYS[hour // 24]} {hour % 24:02d}:00"


def _ceiling(item: Mapping[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}{key} must be a positive integer or null")
    return value


def span_items(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The scope items of one span record (edge/otlp.py), as the control plane's rollup
    (ClickHouse ``security_scope_minute``) names them."""
    attrs = record.get("attributes") or {}
    items = [
        ("tool", str(record.get("tool") or "")),
        ("collection", str(attrs.get("db.collection.name") or "")),
        ("host", str(attrs.get("server.address") or "")),
    ]
    if record.get("model"):
        items.append(("model", f"{record.get('provider') or ''}/{record['model']}"))
    classes = list(record.get("data_classes") or [])
    if attrs.get("data.classification"):
        classes.append(str(attrs["data.classification"]))
    items += [("classification", str(c)) for c in dict.fromkeys(classes)]
    return [(dimension, item) for dimension, item in items if item]


def request_items(
    tools: Iterable[str], data_classes: Iterable[str], model: str
) -> list[tuple[str, str]]:
    """The scope items of a model call: its tools, its data classes and its model (by
    name; a tier alias ``acp/...`` names no model)."""
    items = [("tool", t) for t in tools] + [("classification", c) for c in data_classes]
    if model and not model.startswith("acp/"):
        items.append(("model", f"{ANY_PROVIDER}{model}"))
    return items


def _count(value: Any) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


@dataclass
class Finding:
    seq: int
    agent_id: str
    tenant_id: str
    kind: str  # scope | ceiling | temporal
    dimension: str  # scope: the dimension; ceiling: tokens | returned_rows; temporal: hour
    item: str  # scope: the item; ceiling: "per minute"; temporal: "Sun 03:00"
    action: str  # refused | flagged
    source: str  # request | span
    reason: str
    first_seen: str
    last_seen: str
    count: int = 1
    observed: int | None = None
    limit: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Minute:
    """A sliding one-minute sum."""

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, now: float, amount: int) -> int:
        self.events.append((now, amount))
        self.total += amount
        return self.current(now)

    def current(self, now: float) -> int:
        while self.events and self.events[0][0] <= now - WINDOW_SECONDS:
            self.total -= self.events.popleft()[1]
        return self.total


class Watch:
    """Checks and the findings waiting for the control plane; thread-safe (spans are
    decoded in a thread pool)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, str], Finding] = {}
        self._reported: dict[tuple[str, str, str, str], float] = {}
        self._seq = 0
        self._tokens: dict[str, _Minute] = {}
        self._rows: dict[str, _Minute] = {}

    # --- checks ---------------------------------------------------------------------------

    def check_request(
        self,
        rules: Mapping[str, AgentWatch],
        agent_id: str,
        tenant_id: str,
        items: Iterable[tuple[str, str]],
    ) -> None:
        """A model call: record what is outside the agent's allow-sets or over its
        ceilings; raise a Refusal when its mode is ``refuse``."""
        rule = rules.get(agent_id)
        if rule is None:
            return
        refuse = rule.mode == "refuse"
        action = "refused" if refuse else "flagged"
        outside = self._outside(rule, items)
        for dimension, item in outside:
            self._record(agent_id, tenant_id, "scope", dimension, item, action, "request")
        if outside and refuse:
            dimension, item = outside[0]
            item = item.removeprefix(ANY_PROVIDER)
            raise Refusal(
                403,
                "acp_security",
                "security.scope",
                f"{dimension} {item!r} is outside what this agent has been seen to use; "
                "the security team has been told (ask your MSP to allow it)",
                stage="security",
            )
        now = self._clock()
        for name, minute, ceiling in (
            ("tokens", self._tokens.get(agent_id), rule.max_tokens_per_minute),
            ("returned_rows", self._rows.get(agent_id), rule.max_rows_per_minute),
        ):
            if minute is None or ceiling is None or not refuse:
                continue
            with self._lock:
                observed = minute.current(now)
            if observed >= ceiling:
                raise Refusal(
                    429,
                    "acp_security",
                    "security.ceiling",
                    f"this agent used {observed} {name.replace('_', ' ')} in the last minute, "
                    f"over its ceiling of {ceiling}; try again in a minute",
                    stage="security",
                    retry_after=int(WINDOW_SECONDS),
                )

    def check_span(
        self, rules: Mapping[str, AgentWatch], tenant_id: str, record: Mapping[str, Any]
    ) -> None:
        """A span from the agent: flag items outside its allow-sets and a start outside
        its working hours, and count its tokens and returned rows against its ceilings
        (never refused: a span is evidence)."""
        agent_id = str(record.get("agent_id") or "")
        rule = rules.get(agent_id)
        if rule is None:
            return
        for dimension, item in self._outside(rule, span_items(record)):
            self._record(agent_id, tenant_id, "scope", dimension, item, "flagged", "span")
        started = _count(record.get("start_time_unix_nano"))
        if (
            rule.hours is not None
            and abs(self._clock() - started / 1e9) <= LATE_SECONDS
            and hour_of_week(started) not in rule.hours
        ):
            label = hour_label(hour_of_week(started))
            self._record(agent_id, tenant_id, "temporal", "hour", label, "flagged", "span")
        attrs = record.get("attributes") or {}
        tokens = _count(record.get("input_tokens")) + _count(record.get("output_tokens"))
        self.count(rules, agent_id, tenant_id, tokens=tokens, source="span")
        rows = _count(attrs.get("db.response.returned_rows"))
        self.count(rules, agent_id, tenant_id, rows=rows, source="span")

    def count(
        self,
        rules: Mapping[str, AgentWatch],
        agent_id: str,
        tenant_id: str,
        *,
        tokens: int = 0,
        rows: int = 0,
        source: str = "request",
    ) -> None:
        """Tokens (a served model call, a span) and rows (a span) of the agent; crossing
        a ceiling is a finding."""
        rule = rules.get(agent_id)
        if rule is None:
            return
        now = self._clock()
        for name, amount, store, ceiling in (
            ("tokens", tokens, self._tokens, rule.max_tokens_per_minute),
            ("returned_rows", rows, self._rows, rule.max_rows_per_minute),
        ):
            if not amount or ceiling is None:
                continue
            with self._lock:
                observed = store.setdefault(agent_id, _Minute()).add(now, amount)
            if observed > ceiling:
                action = "refused" if rule.mode == "refuse" else "flagged"
                self._record(
                    agent_id,
                    tenant_id,
                    "ceiling",
                    name,
                    "per minute",
                    action,
                    source,
                    observed=observed,
                    limit=ceiling,
                )

    @staticmethod
    def _outside(rule: AgentWatch, items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        outside = []
        for dimension, item in dict.fromkeys(items):
            allowed = rule.allow.get(dimension)
            if allowed is None or item in allowed:
                continue
            if item.startswith(ANY_PROVIDER) and any(
                known.partition("/")[2] == item[len(ANY_PROVIDER) :] for known in allowed
            ):
                continue
            outside.append((dimension, item))
        return outside

    def _record(
        self,
        agent_id: str,
        tenant_id: str,
        kind: str,
        dimension: str,
        item: str,
        action: str,
        source: str,
        *,
        observed: int | None = None,
        limit: int | None = None,
    ) -> None:
        key = (agent_id, kind, dimension, item)
        now = self._clock()
        stamp = datetime.fromtimestamp(now, UTC).isoformat()
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None:
                pending.count += 1
                pending.last_seen = stamp
                if observed is not None and observed > (pending.observed or 0):
                    pending.observed = observed
                if action == "refused":
                    pending.action = action
                return
            if now - self._reported.get(key, -REPORT_AGAIN_SECONDS) < REPORT_AGAIN_SECONDS:
                return
            if len(self._pending) >= MAX_FINDINGS:
                return  # the control plane is not pulling; the detectors see the spans
            self._seq += 1
            if kind == "scope":
                reason = f"first use of this {dimension} seen at this edge: not in the agent's "
                reason += "learned allow-set"
            elif kind == "temporal":
                reason = "work started outside the agent's learned and configured hours"
            else:
                reason = f"{dimension.replace('_', ' ')} in the last minute over the ceiling"
            self._pending[key] = Finding(
                seq=self._seq,
                agent_id=agent_id,
                tenant_id=tenant_id,
                kind=kind,
                dimension=dimension,
                item=item,
                action=action,
                source=source,
                reason=reason,
                first_seen=stamp,
                last_seen=stamp,
                observed=observed,
                limit=limit,
            )

    # --- what the control plane pulls ----------------------------------------------------

    def pending(self) -> tuple[list[dict[str, Any]], int]:
        """The findings not yet acknowledged, and the cursor that acknowledges them."""
        with self._lock:
            findings = sorted(self._pending.values(), key=lambda f: f.seq)
            return [f.as_dict() for f in findings], (findings[-1].seq if findings else 0)

    def ack(self, cursor: int) -> int:
        """Forget the findings up to ``cursor``; the same items are reported again after
        REPORT_AGAIN_SECONDS at the earliest."""
        now = self._clock()
        with self._lock:
            for key, finding in list(self._pending.items()):
                if finding.seq <= cursor:
                    del self._pending[key]
                    self._reported[key] = now
            for key, at in list(self._reported.items()):
                if now - at >= REPORT_AGAIN_SECONDS:
                    del self._reported[key]
            return len(self._pending)
