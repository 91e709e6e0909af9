"""Usage reports (from the PostgreSQL ledger) and traces (from ClickHouse)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from controlplane.api.filtering import printable
from controlplane.api.serializers.common import EXAMPLE_AGENT_ID, response_example
from controlplane.telemetry.spans import TRACE_STATUSES

USAGE_DIMENSIONS = ("agent", "department", "provider", "model", "day")
MAX_USAGE_DAYS = 400


EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


class _Moment(serializers.DateTimeField):
    """A moment both stores can hold (ClickHouse's DateTime64 stops in 2299)."""

    def to_internal_value(self, value: Any) -> dt.datetime:
        moment = super().to_internal_value(value)
        if not EARLIEST <= moment < LATEST:
            raise serializers.ValidationError("Give a moment between 1970 and 2200.")
        return moment


def _window(attrs: dict[str, Any], default: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    until = attrs.get("until") or timezone.now()
    since = attrs.get("since") or max(until - default, EARLIEST)
    if since >= until:
        raise serializers.ValidationError({"since": "Give a start before the end (until)."})
    return since, until


class _Text(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not printable(value):
            self.fail("invalid")
        return value


class UsageQuerySerializer(serializers.Serializer):
    """The query string of the usage report."""

    group_by = serializers.CharField(required=False, default="day")
    since = _Moment(required=False)
    until = _Moment(required=False)
    agent = serializers.UUIDField(required=False)
    department = serializers.UUIDField(required=False)
    provider = _Text(required=False, max_length=100)
    model = _Text(required=False, max_length=200)

    def validate_group_by(self, value: str) -> list[str]:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in parts if part not in USAGE_DIMENSIONS]
        if unknown or not parts:
            raise serializers.ValidationError(
                f"Give one or more of {', '.join(USAGE_DIMENSIONS)}, separated by commas."
            )
        return list(dict.fromkeys(parts))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = _window(attrs, dt.timedelta(days=30))
        if until - since > dt.timedelta(days=MAX_USAGE_DAYS):
            raise serializers.ValidationError(
                {"since": f"Ask for at most {MAX_USAGE_DAYS} days at a time."}
            )
        return {**attrs, "since": since, "until": until}


class UsageRowSerializer(serializers.Serializer):
    """One group's totals. Only the fields of the requested groupings are present."""

    agent_id = serializers.UUIDField(required=False)
    agent = serializers.CharField(required=False, help_text="The agent's name.")
    department_id = serializers.UUIDField(required=False, allow_null=True)
    department = serializers.CharField(
        required=False, allow_null=True, help_text="The department's name; null for none."
    )
    provider = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    day = serializers.DateField(required=False, help_text="UTC day.")
    events = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=24, decimal_places=9, help_text="In USD.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        return {key: value for key, value in data.items() if key in instance}


@extend_schema_serializer(
    many=False,  # a report, though served by a list route
    examples=[
        response_example(
            {
                "since": "2026-11-01T00:00:00Z",
                "until": "2026-11-26T00:00:00Z",
                "group_by": ["agent", "day"],
                "rows": [
                    {
                        "agent_id": EXAMPLE_AGENT_ID,
                        "agent": "invoice-triage",
                        "day": "2026-11-25",
                        "events": 412,
                        "input_tokens": 183004,
                        "output_tokens": 40211,
                        "cost": "0.137540000",
                    }
                ],
                "totals": {
                    "events": 412,
                    "input_tokens": 183004,
                    "output_tokens": 40211,
                    "cost": "0.137540000",
                },
            }
        )
    ],
)
class UsageReportSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    group_by = serializers.ListField(child=serializers.ChoiceField(choices=USAGE_DIMENSIONS))
    rows = UsageRowSerializer(many=True)
    totals = UsageRowSerializer()


class TraceQuerySerializer(serializers.Serializer):
    since = _Moment(required=False)
    until = _Moment(required=False)
    agent = serializers.UUIDField(required=False)
    department = serializers.UUIDField(required=False)
    provider = _Text(required=False, max_length=200)
    model = _Text(required=False, max_length=200)
    tool = _Text(required=False, max_length=200)
    q = _Text(required=False, max_length=200, trim_whitespace=True)
    status = serializers.ChoiceField(choices=TRACE_STATUSES, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    before = _Moment(required=False)
    before_trace = serializers.RegexField(r"^[0-9a-f]{32}$", required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = _window(attrs, dt.timedelta(days=7))
        if ("before" in attrs) != ("before_trace" in attrs):
            raise serializers.ValidationError(
                {"before_trace": "Give before and before_trace together (from `next`)."}
            )
        return {**attrs, "since": since, "until": until}


TRACE_ID_EXAMPLE = "4bf92f3577b34da6a3ce929d0e0e4736"


class TraceSummarySerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    spans = serializers.IntegerField()
    agent_id = serializers.UUIDField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=24, decimal_places=9)
    status = serializers.ChoiceField(choices=TRACE_STATUSES)
    root_name = serializers.CharField(allow_blank=True)


_TRACE_SUMMARY = {
    "trace_id": TRACE_ID_EXAMPLE,
    "started_at": "2026-11-25T10:00:00.120000Z",
    "ended_at": "2026-11-25T10:00:03.480000Z",
    "spans": 4,
    "agent_id": EXAMPLE_AGENT_ID,
    "input_tokens": 1830,
    "output_tokens": 402,
    "cost": "0.001375000",
    "status": "ok",
    "root_name": "triage invoice",
}


@extend_schema_serializer(
    many=False,  # already a page: results and the next page's link
    examples=[
        response_example(
            {
                "results": [_TRACE_SUMMARY],
                "next": "https://cp.msp.example/api/v1/tenants/acme/traces?until=2026-11-25T10%3A00%3A00.120000Z&limit=50",
            }
        )
    ],
)
class TraceListSerializer(serializers.Serializer):
    results = TraceSummarySerializer(many=True)
    next = serializers.URLField(
        allow_null=True, help_text="The next (older) page, or null when this is the last."
    )


class SpanSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    span_id = serializers.CharField()
    parent_span_id = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(help_text="llm, tool or step.")
    name = serializers.CharField(allow_blank=True)
    start_time = serializers.DateTimeField()
    end_time = serializers.DateTimeField()
    duration_ms = serializers.FloatField()
    status = serializers.CharField()
    status_message = serializers.CharField(allow_blank=True)
    provider = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    tool = serializers.CharField(allow_blank=True)
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=24, decimal_places=9)
    data_classes = serializers.ListField(child=serializers.CharField())
    agent_id = serializers.UUIDField()
    request_body = serializers.CharField(allow_blank=True)
    response_body = serializers.CharField(allow_blank=True)
    attributes = serializers.JSONField()


@extend_schema_serializer(
    examples=[
        response_example(
            {
                "trace_id": TRACE_ID_EXAMPLE,
                "bodies_withheld": False,
                "bodies_at_edge": 0,
                "edges_unreachable": [],
                "spans": [
                    {
                        "event_id": "0193f0a2-6c1e-7b3a-9f10-2b7c1d5e8b01",
                        "span_id": "00f067aa0ba902b7",
                        "parent_span_id": "",
                        "kind": "llm",
                        "name": "chat gpt-4.1-mini",
                        "start_time": "2026-11-25T10:00:00.120000Z",
                        "end_time": "2026-11-25T10:00:01.020000Z",
                        "duration_ms": 900.0,
                        "status": "ok",
                        "status_message": "",
                        "provider": "openai",
                        "model": "gpt-4.1-mini",
                        "tool": "",
                        "input_tokens": 1830,
                        "output_tokens": 402,
                        "cost": "0.001375000",
                        "data_classes": ["financial"],
                        "agent_id": EXAMPLE_AGENT_ID,
                        "request_body": '{"messages": [...]}',
                        "response_body": '{"choices": [...]}',
                        "attributes": {"gen_ai.request.temperature": 0.2},
                    }
                ],
            }
        )
    ]
)
class TraceDetailSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    bodies_withheld = serializers.BooleanField(
        help_text="True when the token's role may not read prompts and responses: every "
        "request_body and response_body is then empty (usage, cost and attributes are not)."
    )
    bodies_at_edge = serializers.IntegerField(
        help_text="Spans whose bodies stay at the tenant's edge (residency) and were read from "
        "it for this answer; 0 when the tenant's bodies are stored centrally or withheld."
    )
    edges_unreachable = serializers.ListField(
        child=serializers.CharField(),
        help_text="Edge nodes keeping bodies of this trace that did not answer: their spans "
        "come with empty bodies.",
    )
    spans = SpanSerializer(many=True)
