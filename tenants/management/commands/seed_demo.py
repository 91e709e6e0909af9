from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from controlplane.agents.demo import seed_demo_fleet
from controlplane.gateway.demo import seed_demo_gateway
from tenants.demo import DEMO_PASSWORD, demo_logins, seed_demo


class Command(BaseCommand):
    help = (
        "Load the demo MSP (tenants acme, globex, initech, each with a site, an edge node "
        "and agents; providers, routes, prices, policies and budgets) if it is not there yet."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = seed_demo()
        seed_demo_fleet(settings.VAR_DIR / "demo_agents.json")
        seed_demo_gateway()
        self.stdout.write("demo data loaded" if created else "demo data already present")
        self.stdout.write(f"demo logins (password {DEMO_PASSWORD!r}):")
        for email, what in demo_logins():
            self.stdout.write(f"  {email:28} {what}")
