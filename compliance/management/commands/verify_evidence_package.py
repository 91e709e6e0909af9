from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.packages.verify import PublicKeyError, parse_public_keys, verify_package


class Command(BaseCommand):
    help = (
        "Check an evidence package offline: its Ed25519 signature, its manifest and every "
        "file's SHA-256. Names each file that was altered, added or removed, or that the "
        "manifest or the signature was. Exit status 1 when anything is wrong."
    )
    requires_system_checks: list[str] = []  # offline: no database needed

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the package (.zip)")
        parser.add_argument(
            "--public-key",
            help="the signer's public key: a file (PEM, or the JSON published at "
            "/compliance/signing-keys), or 'id:base64' text. Without it the key inside the "
            "package is used, which proves integrity but not who signed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"file: {path} does not exist")
        keys = None
        if options["public_key"]:
            try:
                keys = parse_public_keys(options["public_key"])
            except (PublicKeyError, OSError) as exc:
                raise CommandError(f"--public-key: {exc}") from None
        with path.open("rb") as stream:
            report = verify_package(stream, public_keys=keys)
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"ALTERED {problem}")
            raise CommandError(
                f"{path.name}: {len(report.problems)} problem(s); the package cannot be relied on",
                returncode=1,
            )
        manifest = report.manifest
        tenant = manifest.get("tenant", {})
        period = manifest.get("period", {})
        head = manifest.get("audit_chain_head", {})
        self.stdout.write(
            f"OK {path.name}: signature valid (key {report.key_id}), {report.files_checked} "
            f"files match the manifest. Tenant {tenant.get('slug')}, period "
            f"{period.get('start')} to {period.get('end')}, audit chain head "
            f"#{head.get('seq')} {str(head.get('hash'))[:16]}…"
        )
