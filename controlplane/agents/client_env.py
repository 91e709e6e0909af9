"""What a client on an agent's device needs, in the variables the ecosystem reads."""

from __future__ import annotations

from urllib.parse import quote

from controlplane.agents.models import Agent, EdgeNode

DEVICE_ID_HEADER = "x-acp-device-id"
DEVICE_KEY_HEADER = "x-acp-device-key"


def client_environment(
    *, agent: Agent, edge: EdgeNode, agent_key: str, device_key: str
) -> dict[str, str]:
    """OpenTelemetry, OpenAI and Anthropic SDK settings pointing at the site's edge node.

    OTLP header values are percent-encoded, as the OpenTelemetry spec requires.
    """
    base = edge.agent_url.rstrip("/")
    device_headers = {DEVICE_ID_HEADER: str(agent.device_id), DEVICE_KEY_HEADER: device_key}
    otlp_headers = {"Authorization": f"Bearer {agent_key}", **device_headers}
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": base,
        "OTEL_EXPORTER_OTLP_HEADERS": ",".join(
            f"{name}={quote(value, safe='')}" for name, value in otlp_headers.items()
        ),
        "OTEL_SERVICE_NAME": agent.name,
        "OPENAI_BASE_URL": f"{base}/v1",
        "OPENAI_API_KEY": agent_key,
        "ANTHROPIC_BASE_URL": base,
        "ANTHROPIC_API_KEY": agent_key,
        "AGENT_DEVICE_HEADERS": ",".join(f"{k}={v}" for k, v in device_headers.items()),
    }
