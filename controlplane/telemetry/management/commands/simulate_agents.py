import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.telemetry.simulator import (
    SimulatedAgent,
    TraceFactory,
    gateway_chat_request,
    schedule,
    system_prompt_for,
)


def load_agents(path: Path) -> list[SimulatedAgent]:
    entries = json.loads(path.read_text())
    return [
        SimulatedAgent(
            name=entry["name"],
            role=entry["role"],
            headers=entry["headers"],
            endpoint=entry["endpoint"],
            system_prompt=system_prompt_for(entry["name"], entry["role"]),
        )
        for entry in entries
    ]


class Command(BaseCommand):
    help = (
        "Send realistic agent traffic from the demo agents to their edge nodes: OpenTelemetry "
        "traces over OTLP/HTTP (GenAI model calls, tool calls, errors, timeouts, a daily "
        "rhythm) and chat completions through the edge gateway."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials",
            type=Path,
            default=settings.VAR_DIR / "demo_agents.json",
            help="agent credentials written by seed_demo",
        )
        parser.add_argument("--rate", type=float, default=2.0, help="traces per second")
        parser.add_argument("--count", type=int, default=0, help="stop after N traces (0: run)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--gateway-share",
            type=float,
            default=0.3,
            help="share of interactions sent as chat completions through the edge gateway",
        )

    def handle(
        self,
        *args: Any,
        credentials: Path,
        rate: float,
        count: int,
        seed: int | None,
        gateway_share: float,
        **options: Any,
    ) -> None:
        if not credentials.exists():
            raise CommandError(f"--credentials: {credentials} not found; run seed_demo first")
        if rate <= 0:
            raise CommandError("--rate must be positive")
        agents = load_agents(credentials)
        rng = random.Random(seed)
        factory = TraceFactory(rng)
        sent = refused = 0
        with httpx.Client(timeout=10) as client:
            for agent in schedule(agents, rate=rate, rng=rng):
                base = agent.endpoint.rstrip("/")
                try:
                    if rng.random() < gateway_share:
                        response = client.post(
                            f"{base}/v1/chat/completions",
                            headers=agent.headers,
                            json=gateway_chat_request(agent, rng),
                        )
                        ok = response.status_code < 500  # a policy refusal is a result too
                    else:
                        response = client.post(
                            f"{base}/v1/traces",
                            content=factory.request(agent, 1).SerializeToString(),
                            headers={**agent.headers, "Content-Type": "application/x-protobuf"},
                        )
                        ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                sent += ok
                refused += not ok
                if not ok:
                    time.sleep(1)  # edge down or full: back off, as an OTLP exporter would
                if count and sent + refused >= count:
                    break
        self.stdout.write(f"sent {sent} interactions, {refused} not accepted")
