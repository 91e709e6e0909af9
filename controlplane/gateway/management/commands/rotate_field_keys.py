from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import models, transaction

from controlplane.core.crypto import encrypted_columns, key_ring
from controlplane.core.tenancy import all_tenants_context


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted column (controlplane.core.crypto lists them) with the "
        "newest key of FIELD_ENCRYPTION_KEYS (the first entry); blank values are left "
        "blank. Run it after putting a new key first, while the old keys are still listed; "
        "once it reports nothing left on an old key, drop the old keys. "
        "Idempotent: values already on the newest key are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        ring = key_ring()
        self.stdout.write(f"newest key: {ring.current_key_id}")
        for entry in encrypted_columns():
            rotated, total = self._rotate(entry.model, entry.column, entry.key_column, batch_size)
            self.stdout.write(
                f"{entry.label}: {rotated} re-encrypted, "
                f"{total - rotated} already on the newest key"
            )

    def _rotate(
        self, model: type[models.Model], column: str, key_column: str | None, batch_size: int
    ) -> tuple[int, int]:
        ring = key_ring()
        manager = model._base_manager  # every tenant's rows, under all_tenants_context
        rotated = total = 0
        last_pk: Any = None
        while True:
            with all_tenants_context(), transaction.atomic():
                rows = manager.exclude(**{column: ""}).select_for_update().order_by("pk")
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                batch = list(rows[:batch_size])
                for row in batch:
                    total += 1
                    stored = getattr(row, column)
                    if not ring.needs_rotation(stored):
                        continue
                    setattr(row, column, ring.encrypt(ring.decrypt(stored)))
                    fields = [column]
                    if key_column:
                        setattr(row, key_column, ring.current_key_id)
                        fields.append(key_column)
                    row.save(update_fields=fields)
                    rotated += 1
            if len(batch) < batch_size:
                return rotated, total
            last_pk = batch[-1].pk
