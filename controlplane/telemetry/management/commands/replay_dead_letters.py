import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.telemetry.dead_letters import dead_letters_replay
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Store the open dead letters again (records no store would take), once what "
        "refused them is fixed. Idempotent: a stored record is never stored twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="only this tenant's (slug)")
        parser.add_argument("--node", type=uuid.UUID, help="only this edge node's")
        parser.add_argument(
            "--id", type=uuid.UUID, action="append", dest="ids", help="only this dead letter"
        )

    def handle(
        self,
        *args: Any,
        tenant: str | None,
        node: uuid.UUID | None,
        ids: list[uuid.UUID] | None,
        **options: Any,
    ) -> None:
        chosen = None
        if tenant is not None:
            chosen = Tenant.objects.filter(slug=tenant).first()
            if chosen is None:
                raise CommandError(f"--tenant: no tenant with the slug {tenant!r}")
        result = dead_letters_replay(tenant=chosen, edge_node_id=node, letter_ids=ids)
        self.stdout.write(
            f"{result.replayed} replayed, {result.still_refused} still refused"
            + (" (see their reason on the operations dashboard)" if result.still_refused else "")
        )
        if result.still_refused:
            raise CommandError(f"{result.still_refused} dead letters are still refused")
