import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from controlplane.telemetry.otlp_files import OtlpFileError
from controlplane.telemetry.otlp_import import (
    AgentMap,
    Staged,
    UnknownAgentsError,
    import_file,
    register_unknown,
    stage,
)
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Import OTLP trace files written by an OpenTelemetry Collector's file exporter "
        "(JSON lines or length-delimited protobuf, optionally gzipped) as a tenant's "
        "history, into the ledger and ClickHouse. Idempotent: spans already stored are "
        "not stored again. Every file is checked before anything is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument(
            "--register-unknown",
            action="store_true",
            help="register agents the files name that the tenant does not have (by their "
            "agent.id or service.name), instead of stopping",
        )

    def handle(
        self, *args: Any, tenant: str, files: list[Path], register_unknown: bool, **options: Any
    ) -> None:
        chosen = Tenant.objects.filter(slug=tenant).first()
        if chosen is None:
            raise CommandError(f"--tenant: no tenant with the slug {tenant!r}")
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        with tempfile.TemporaryDirectory(prefix="import-otlp-") as workdir:
            staged = self._stage(files, chosen, Path(workdir), register_unknown)
            refused = 0
            for item in staged:
                refused += self._import(item, chosen)
        if refused:
            raise CommandError(f"{refused} spans were refused (above); the rest was imported")

    def _stage(
        self, files: list[Path], tenant: Tenant, workdir: Path, register: bool
    ) -> list[Staged]:
        """Every file read and mapped, or a CommandError naming what cannot be."""
        try:
            staged = [self._read(path, AgentMap(tenant), workdir) for path in files]
            unknown = {name: where for item in staged for name, where in item.unknown.items()}
            if unknown and not register:
                raise UnknownAgentsError(unknown)
            if unknown:
                register_unknown(tenant=tenant, names=list(unknown))
                self.stdout.write(f"registered {len(unknown)} agents: {', '.join(unknown)}")
                staged = [self._read(path, AgentMap(tenant), workdir) for path in files]
        except (OtlpFileError, UnknownAgentsError) as error:
            raise CommandError(f"{error} Nothing was imported.") from None
        return staged

    def _read(self, path: Path, agents: AgentMap, workdir: Path) -> Staged:
        staged = stage(path, agents, workdir)
        self.stdout.write(f"{path}: {staged.spans} spans read")
        return staged

    def _import(self, staged: Staged, tenant: Tenant) -> int:
        path, total = staged.path, staged.spans

        def progress(done: int) -> None:
            share = done * 100 // total if total else 100
            self.stdout.write(f"  {path.name}: {done}/{total} spans stored ({share}%)")

        result = import_file(staged, tenant=tenant, progress=progress)
        self.stdout.write(
            f"{path}: {result.spans} spans, {result.new_in_ledger} new in the ledger, "
            f"{result.new_in_clickhouse} new in ClickHouse, "
            f"{result.spans - result.new_in_ledger} already in the ledger"
        )
        for line in result.refused:
            self.stderr.write(f"refused: {line}")
        return len(result.refused)
