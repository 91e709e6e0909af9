"""A quarter's evidence package of a tenant with 10 million events, and its criterion
pages on that data.

    export CONTROLPLANE_VAR_DIR=/tmp/bench-evidence CHDB_PATH=/tmp/bench-evidence/chdb
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py migrate_clickhouse
    .venv/bin/python manage.py seed_events --events 10000000 --days 92 --tenants 1 \\
        --agents 300 --until 2026-10-01T00:00:00      # Q3 2026, one tenant: seed-001
    .venv/bin/python bench/evidence_package.py [--quarter 2026-Q3] [--every-hours 6] \\
        [--runs 5] [--page-requests 20] [--json FILE]

In one process, against the data in ``CONTROLPLANE_VAR_DIR`` (bench/README.md,
"Evidence package"):

1. Evidence (not timed; once, then kept): the catalog, and every tenant test of the
   catalog run for the tenant at every ``--every-hours`` of the quarter, through
   ``compliance.runs.evidence_collect`` (what a scheduled run does, with ``now`` in the
   past), so the quarter has the evidence a schedule at that cadence leaves.
2. Timed, ``--runs`` times: ``package_request`` then ``package_build`` for the quarter,
   exactly the Celery task's body: every evidence record as JSON, a population CSV per
   test, five PDFs, the quarter's data-flow diagram from ClickHouse, the audit log of the
   quarter, the ZIP and its Ed25519 signature, stored in Postgres. The package is checked
   with ``verify_package`` after each run (not timed). CPU is this process's (chDB runs in
   it) plus the embedded Postgres server's.
3. Timed, same runs: the compliance overview and the five criterion pages through
   Django's test client, as the tenant's owner (portal) and as an outside auditor of the
   quarter, ``--page-requests`` each after one untimed: server time with every query and
   the template; p50 and p95 per page, and the worst page's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
import pyotp  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import harness  # noqa: E402
from compliance.catalog import catalog_sync  # noqa: E402
from compliance.models import Category, ControlTest, EvidencePackage, EvidenceRecord, Scope  # noqa: E402
from compliance.packages.services import package_build, package_request  # noqa: E402
from compliance.packages.verify import verify_package  # noqa: E402
from compliance.periods import Period  # noqa: E402
from compliance.runs import evidence_collect  # noqa: E402
from controlplane.accounts.auditors import auditor_create  # noqa: E402
from controlplane.accounts.mfa import SESSION_MFA_VERIFIED_AT  # noqa: E402
from controlplane.accounts.models import AuditorAccount, TOTPDevice, User  # noqa: E402
from controlplane.analytics.scoped import tenant_query  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.core.crypto import key_ring  # noqa: E402
from controlplane.core.tenancy import tenant_context  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import customer_user_create  # noqa: E402

SYSTEM = Actor.system("bench")
OWNER_EMAIL = "bench-owner@seed-001.example"
AUDITOR_EMAIL = "bench-auditor@cpa.example"


def parse_quarter(text: str) -> Period:
    year, number = text.split("-Q")
    return Period.quarter(int(year), int(number))


def seed_evidence(tenant: Tenant, period: Period, every: dt.timedelta) -> None:
    """Every tenant test at every ``every`` of the period, skipping times done before."""
    catalog_sync()
    tests = list(
        ControlTest.objects.filter(scope=Scope.TENANT, active=True, control__active=True)
        .select_related("control")
        .order_by("key")
    )
    with tenant_context(tenant):
        done = set(
            EvidenceRecord.objects.filter(
                recorded_at__gte=period.since, recorded_at__lt=period.until
            ).values_list("recorded_at", flat=True)
        )
    moments = []
    moment = period.since + every
    while moment <= period.until:
        moments.append(moment)
        moment += every
    todo = [m for m in moments if m not in done]
    print(
        f"evidence: {len(tests)} tenant tests at {len(moments)} times of {period}; "
        f"{len(moments) - len(todo)} times already done",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    for index, moment in enumerate(todo, 1):
        with tenant_context(tenant):
            for test in tests:
                evidence_collect(test=test, tenant=tenant, run=None, now=moment)
        if index % 10 == 0 or index == len(todo):
            rate = (time.monotonic() - started) / index
            print(f"  {index}/{len(todo)} times, {rate:.1f} s each", file=sys.stderr, flush=True)


def people(tenant: Tenant, period: Period) -> tuple[Client, Client]:
    """Signed-in clients (second factor passed) of the tenant's owner and of an auditor
    of the quarter, made once."""
    owner = User.objects.filter(email=OWNER_EMAIL).first() or customer_user_create(
        actor=SYSTEM, tenant=tenant, email=OWNER_EMAIL, role="owner", password=None
    )
    account = AuditorAccount.objects.filter(user__email=AUDITOR_EMAIL).first()
    if account is None or not account.is_current():
        AuditorAccount.objects.filter(user__email=AUDITOR_EMAIL).delete()
        User.objects.filter(email=AUDITOR_EMAIL).delete()
        account = auditor_create(
            actor=SYSTEM,
            email=AUDITOR_EMAIL,
            tenants=[tenant],
            period=period,
            expires_at=timezone.now() + dt.timedelta(days=30),
        )
    # Auditors must have an authenticator (a confirmed TOTP device) to be let in at all.
    TOTPDevice.objects.update_or_create(
        user=account.user,
        defaults={
            "encrypted_secret": key_ring().encrypt(pyotp.random_base32()),
            "confirmed_at": timezone.now(),
        },
    )
    clients = []
    for user in (owner, account.user):
        client = Client()
        client.force_login(user)
        session = client.session
        session[SESSION_MFA_VERIFIED_AT] = timezone.now().isoformat()
        session.save()
        clients.append(client)
    return clients[0], clients[1]


def postgres_processes() -> list[psutil.Process]:
    """The embedded Postgres server (its postmaster; CpuClock adds the backends)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if "postgres" in (process.info.get("name") or "") and "pgdata" in cmdline:
            found.append(process)
    return found


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def page_times(client: Client, url: str, requests: int) -> list[float]:
    response = client.get(url)  # untimed: templates and connections warm
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def measure(tenant: Tenant, period: Period, args: argparse.Namespace) -> harness.Figures:
    pg = postgres_processes()
    with harness.CpuClock(pg) as cpu:
        started = time.perf_counter()
        package = package_request(actor=SYSTEM, tenant=tenant, period=period)
        package_build(package_id=package.pk)
        seconds = time.perf_counter() - started
    with tenant_context(tenant):
        package = EvidencePackage.objects.get(pk=package.pk)
    report = verify_package(bytes(package.content), public_keys=None)
    assert report.ok, report.problems
    figures: harness.Figures = {
        "package_s": seconds,
        "package_cpu_s": cpu.seconds,
        "package_mb": (package.size_bytes or 0) / 2**20,
        "evidence_records": float(package.evidence_count),
        "cpu_per_record_ms": 1000 * cpu.seconds / max(package.evidence_count, 1),
    }
    owner, auditor = people(tenant, period)
    pages = [("overview", None), *((c.value, c.value) for c in Category)]
    worst = []
    for label, client, prefix in (("portal", owner, "portal"), ("auditor", auditor, "auditor")):
        all_times: list[float] = []
        with harness.CpuClock(pg) as page_cpu:
            for page, category in pages:
                name = f"web:{prefix}_compliance" + ("_criterion" if category else "")
                url = reverse(name, args=[tenant.slug, category] if category else [tenant.slug])
                times = page_times(client, url, args.page_requests)
                all_times += times
                worst.append(p95(times))
                figures[f"{label}_{page}_p95_ms"] = p95(times)
        figures[f"{label}_pages_p50_ms"] = statistics.median(all_times)
        figures[f"{label}_page_cpu_ms"] = 1000 * page_cpu.seconds / len(all_times)
    figures["worst_page_p95_ms"] = max(worst)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_arguments(parser)
    parser.add_argument("--tenant", default="seed-001")
    parser.add_argument("--quarter", default="2026-Q3")
    parser.add_argument("--every-hours", type=int, default=6, help="evidence cadence")
    parser.add_argument("--page-requests", type=int, default=20)
    parser.add_argument("--evidence-only", action="store_true", help="seed evidence, stop")
    args = parser.parse_args()
    setup_test_environment()  # the test client's host is allowed
    tenant = Tenant.objects.get(slug=args.tenant)
    period = parse_quarter(args.quarter)
    seed_evidence(tenant, period, dt.timedelta(hours=args.every_hours))
    if args.evidence_only:
        return
    context = harness.start()
    with tenant_context(tenant):
        records = EvidenceRecord.objects.filter(
            recorded_at__gte=period.since, recorded_at__lt=period.until
        )
        rows = sum(len(p) for p in records.values_list("population", flat=True).iterator())
        count = records.count()
    [spans] = tenant_query(
        "SELECT count() AS n FROM spans WHERE tenant_id = {tenant_id:UUID} AND start_time >= "
        "{s:DateTime64(6, 'UTC')} AND start_time < {u:DateTime64(6, 'UTC')}",
        tenant_id=tenant.pk,
        params={"s": period.since, "u": period.until},
    )
    context.notes.append(
        f"Tenant `{tenant.slug}`, {period.label} ({period}): {int(spans['n']):,} span records "
        f"in ClickHouse, {count:,} evidence records ({args.every_hours}-hourly runs of every "
        f"tenant test) holding {rows:,} population rows; {args.page_requests} requests per page."
    )
    runs = harness.repeat(lambda run: measure(tenant, period, args), runs=args.runs)
    harness.report(
        "Evidence package of a quarter, and the criterion pages",
        runs,
        context=context,
        json_path=args.json,
    )


if __name__ == "__main__":
    main()
