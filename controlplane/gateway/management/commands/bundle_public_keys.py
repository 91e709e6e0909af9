from typing import Any

from django.core.management.base import BaseCommand

from controlplane.gateway.signing import bundle_public_keys


class Command(BaseCommand):
    help = (
        "Print the value of the edges' EDGE_BUNDLE_PUBLIC_KEYS: the public halves of "
        "BUNDLE_SIGNING_KEYS, with which edges verify the configuration bundles."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"EDGE_BUNDLE_PUBLIC_KEYS={bundle_public_keys()}")
