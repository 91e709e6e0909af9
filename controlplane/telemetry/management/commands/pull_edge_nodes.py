import os
import socket
import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.agents.models import EdgeNode
from controlplane.core.tenancy import all_tenants_context
from controlplane.telemetry.pull import pull_edge_node


class Command(BaseCommand):
    help = (
        "Pull edge nodes now, in this process (what the Celery task does), for operators "
        "and tests. With --loop, keep pulling until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", type=uuid.UUID, action="append", help="edge node id")
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument(
            "--worker-id",
            help="lease owner name; a restarted worker with the same id resumes its lease",
        )

    def handle(
        self,
        *args: Any,
        node: list[uuid.UUID] | None,
        loop: bool,
        interval: float,
        worker_id: str | None,
        **options: Any,
    ) -> None:
        worker = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        with all_tenants_context():
            nodes = node or list(EdgeNode.unscoped.values_list("pk", flat=True))
        if not nodes:
            raise CommandError("--node: no edge nodes registered")
        while True:
            for node_id in nodes:
                result = pull_edge_node(node_id, worker=worker)
                if result is None:
                    self.stdout.write(f"{node_id}: pulled by another worker")
                elif result.error:
                    self.stdout.write(f"{node_id}: failed: {result.error}")
                else:
                    self.stdout.write(
                        f"{node_id}: {result.records} records in {result.batches} batches, "
                        f"{result.new_in_ledger} new in the ledger"
                    )
            if not loop:
                return
            time.sleep(interval)
