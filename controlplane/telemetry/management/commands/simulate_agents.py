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
        "Send realistic OpenTelemetry traces (GenAI model calls, tool calls, errors, timeouts, "
        "a daily rhythm) from the demo agents to their edge nodes over OTLP/HTTP."
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

    def handle(
        self,
        *args: Any,
        credentials: Path,
        rate: float,
        count: int,
        seed: int | None,
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
                body = factory.request(agent, 1).SerializeToString()
                try:
                    response = client.post(
                        f"{agent.endpoint.rstrip('/')}/v1/traces",
                        content=body,
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
        self.stdout.write(f"sent {sent} traces, {refused} not accepted")
