from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from billing.demo import seed_demo_billing
from compliance.demo import seed_demo_compliance
from compliance.packages.demo import DEMO_AUDITOR, seed_demo_auditor
from controlplane.agents.demo import seed_demo_fleet
from controlplane.gateway.demo import POLICIES, seed_demo_gateway
from controlplane.security.demo import seed_demo_security
from controlplane.telemetry.demo_history import (
    DEMO_HISTORY_DAYS,
    DEMO_HISTORY_EVENTS,
    load_demo_gateway_records,
    load_demo_history,
)
from tenants.demo import DEMO_PASSWORD, demo_logins, demo_tenants, seed_demo


class Command(BaseCommand):
    help = (
        "Load the demo MSP (tenants acme, globex, initech, each with a site, an edge node "
        "and agents; providers, routes, prices, policies and budgets) if it is not there yet, "
        "with a history of their traffic in both stores (two security incidents in it, "
        "triaged), and run the compliance catalog once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--history-days",
            type=int,
            default=DEMO_HISTORY_DAYS,
            help=f"days of past traffic to load (default {DEMO_HISTORY_DAYS}; 0: none)",
        )
        parser.add_argument(
            "--history-events",
            type=int,
            default=DEMO_HISTORY_EVENTS,
            help=f"events in that history (default {DEMO_HISTORY_EVENTS:,})",
        )

    def handle(self, *args: Any, history_days: int, history_events: int, **options: Any) -> None:
        created = seed_demo()
        seed_demo_fleet(settings.VAR_DIR / "demo_agents.json")
        seed_demo_gateway()
        self.stdout.write("demo data loaded" if created else "demo data already present")
        if history_days > 0 and history_events > 0:
            result = load_demo_history(demo_tenants(), days=history_days, events=history_events)
            self.stdout.write(
                f"history: {result.loaded:,} events loaded, {result.skipped:,} already there "
                f"({history_days} days, {result.seconds:.1f} s)"
            )
            planted = seed_demo_security()
            if planted is not None:
                self.stdout.write(
                    f"security: two incidents planted in acme's history ({planted:,} spans), "
                    "found by the detectors and triaged"
                )
        # The edges' gateway records (content-filter verdicts) of the last days: after the
        # security replay (which judged the history before them), before billing rates.
        load_demo_gateway_records(demo_tenants(), POLICIES)
        invoices = seed_demo_billing()
        if invoices is not None:
            self.stdout.write(
                "billing: last month closed: "
                + ", ".join(f"{i.tenant.slug} {i.number or i.status}" for i in invoices)
            )
        run = seed_demo_compliance()
        if run is not None:
            self.stdout.write(
                f"compliance: {run.evidence_count} evidence records, {run.failed_count} failing"
            )
        if seed_demo_auditor() is not None:
            self.stdout.write("compliance: an outside auditor of acme and globex, packages made")
        self.stdout.write(f"demo logins (password {DEMO_PASSWORD!r}):")
        for email, what in demo_logins():
            self.stdout.write(f"  {email:28} {what}")
        self.stdout.write(f"  {DEMO_AUDITOR:28} outside auditor of acme and globex (read-only)")
