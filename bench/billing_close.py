"""Billing at scale: the monthly close of one tenant with millions of ledger rows, and its
month-to-date portal page.

    .venv/bin/python bench/billing_close.py [--events 10000000] [--dir /tmp/bench-billing]
        [--runs 5] [--requests 20]

Self-contained: an embedded Postgres and chDB under ``--dir`` (kept, so a second run
reuses the data), migrations, list prices for the seeded models, one tenant with 40
agents in five departments (``seed_fleet``), a plan (platform fee, per-agent fee, 20 %
markup, 20 % tax), then ``load_events``: ``--events`` events over November 2026, the
month closed, and a sixth as many over this month, the month to date.

Each run:
1. **close**: ``billing.closing.month_close`` of November from nothing rated, as the
   close task runs it: rating the ledger (one grouped query), the draft, numbering,
   the PDF; inside a transaction rolled back afterwards, so every run does the whole
   close again. CPU of this process and of Postgres per million ledger rows.
2. **month-to-date page**: ``--requests`` GETs of ``/t/<slug>/invoices/`` as the
   tenant's billing person (Django's test client: view, queries, template), after one
   untimed; the run's p95.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import harness  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
parser.add_argument("--events", type=int, default=10_000_000, help="events in the closed month")
parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-billing"))
parser.add_argument("--requests", type=int, default=20, help="page requests per run")
harness.add_arguments(parser)
ARGS = parser.parse_args()

os.environ.pop("DATABASE_URL", None)
os.environ["CONTROLPLANE_VAR_DIR"] = str(ARGS.dir)
os.environ["CHDB_PATH"] = str(ARGS.dir / "chdb")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from billing.closing import month_close, month_rate  # noqa: E402
from billing.drafts import draft_refresh, month_start  # noqa: E402
from billing.models import BillingAccount, Issuer, ModelPrice  # noqa: E402
from billing.services import billing_account_set, issuer_create, plan_create  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.core.tenancy import tenant_context  # noqa: E402
from controlplane.telemetry.models import UsageEvent  # noqa: E402
from controlplane.telemetry.seeding import MODELS, load_events, seed_fleet  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import customer_user_create  # noqa: E402

NOVEMBER = dt.date(2026, 11, 1)
DECEMBER_1 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
ACTOR = Actor.system("bench-billing")
BILLING_EMAIL = "billing@bench-billing.example"
PASSWORD = "bench-password-2026"


def prepare() -> Tenant:
    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)
    for provider, model, _share, per_in, per_out in MODELS:
        ModelPrice.objects.get_or_create(
            provider=provider,
            model=model,
            effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            defaults={
                "input_per_million": Decimal(per_in),
                "output_per_million": Decimal(per_out),
                "cached_input_per_million": Decimal(per_in) / 2,
            },
        )
    fleet = seed_fleet(tenants=1, agents=40, seed=1)
    tenant = fleet.tenants[0]
    with tenant_context(tenant):
        billed = BillingAccount.objects.exists()
    if not billed:
        issuer = Issuer.objects.first() or issuer_create(
            actor=ACTOR,
            name="Bench MSP Ltd",
            address="1 Bench Street",
            tax_id="GB000000000",
            invoice_prefix="BN-",
            credit_note_prefix="BN-CN-",
            review_threshold=Decimal("100000000"),
        )
        billing_account_set(
            actor=ACTOR,
            tenant_id=tenant.pk,
            issuer=issuer,
            legal_name=f"{tenant.name} Ltd",
            currency="USD",
            tax_rate=Decimal("20"),
        )
        plan_create(
            actor=ACTOR,
            tenant_id=tenant.pk,
            name="Managed",
            effective_from=dt.date(2026, 1, 1),
            platform_fee=Decimal("500"),
            per_agent_fee=Decimal("25"),
            markup_percent=Decimal("20"),
        )
        customer_user_create(
            actor=ACTOR, tenant=tenant, email=BILLING_EMAIL, role="billing", password=PASSWORD
        )
    print(f"loading {ARGS.events:,} November events (skipped when loaded)", file=sys.stderr)
    load_events(fleet, events=ARGS.events, days=30, seed=1, until=DECEMBER_1)
    now = timezone.now().replace(second=0, microsecond=0)
    elapsed_days = max(1, (now - DECEMBER_1).days)
    load_events(fleet, events=ARGS.events // 6, days=elapsed_days, seed=2, until=now)
    this_month = month_start(now.date())
    month_rate(tenant_id=tenant.pk, month=this_month)
    draft_refresh(tenant_id=tenant.pk, month=this_month)
    return tenant


def postgres_processes() -> list[psutil.Process]:
    pid_file = ARGS.dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():  # a server Postgres: only this process is counted
        return []
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


def main() -> None:
    context = harness.start()
    tenant = prepare()
    with tenant_context(tenant):
        rows = UsageEvent.objects.filter(
            occurred_at__gte=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), occurred_at__lt=DECEMBER_1
        ).count()
    print(f"{rows:,} ledger rows in November for {tenant.slug}", file=sys.stderr)
    setup_test_environment()
    client = Client()
    client.login(email=BILLING_EMAIL, password=PASSWORD)
    page = f"/t/{tenant.slug}/invoices/"
    assert client.get(page).status_code == 200

    def measure(run: int) -> harness.Figures:
        with harness.CpuClock(postgres_processes()) as cpu, transaction.atomic():
            started = time.perf_counter()
            invoice = month_close(tenant_id=tenant.pk, month=NOVEMBER)
            close_s = time.perf_counter() - started
            assert invoice is not None and invoice.status == "final" and invoice.pdf
            transaction.set_rollback(True)
        connection.close()  # the close's locks and temp state go with the rollback
        times = []
        for _ in range(ARGS.requests):
            started = time.perf_counter()
            response = client.get(page)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return {
            "close_s": close_s,
            "close_cpu_s_per_million_rows": cpu.seconds * 1_000_000 / rows,
            "mtd_page_p50_ms": statistics.median(times),
            "mtd_page_p95_ms": statistics.quantiles(times, n=20)[-1],
        }

    runs = harness.repeat(measure, runs=ARGS.runs)
    context.notes.append(
        f"{rows:,} ledger rows in the closed month (one tenant, 40 agents); "
        f"the page: {ARGS.requests} requests per run."
    )
    harness.report(
        "Monthly close and month-to-date page", runs, context=context, json_path=ARGS.json
    )


if __name__ == "__main__":
    main()
