"""The demo's compliance evidence: what the MSP and its customers would have done (an
access review, an approved exception) and an hourly reconciliation of the demo history
(its edges' gateway records loaded before, by ``seed_demo``), then one run of the whole
catalog, so the five criterion pages are filled from the demo's own traffic the moment
it starts."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from compliance.catalog import catalog_sync
from compliance.models import Control, TestRun
from compliance.reviews import access_review_record, exception_decide, exception_request
from compliance.runs import test_run_execute, test_run_request
from controlplane.accounts.models import User
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.reconcile import SETTLE_TIME, reconcile_tenant
from tenants.demo import demo_tenants
from tenants.models import Tenant

ACTOR = Actor.system("demo")
RECONCILED = dt.timedelta(days=2)


def _user(email: str) -> User:
    return User.objects.get(email=email)


def _decisions(tenants: dict[str, Tenant]) -> None:
    """Acme's owner reviewed its people and the MSP's admin its staff; Initech asked for
    an exception to two-factor sign-in, which the MSP's admin approved."""
    admin = _user("admin@msp.example")
    with tenant_context(tenants["acme"]):
        access_review_record(
            actor=Actor.for_user(_user("owner@acme.example")),
            reviewer=_user("owner@acme.example"),
            tenant=tenants["acme"],
            note="Quarterly review: every role still needed.",
        )
    with all_tenants_context():
        access_review_record(actor=Actor.for_user(admin), reviewer=admin, tenant=None)
    owner = _user("owner@initech.example")
    with tenant_context(tenants["initech"]):
        exception = exception_request(
            actor=Actor.for_user(owner),
            requested_by=owner,
            tenant=tenants["initech"],
            control=Control.objects.get(code="CC6.1-MFA"),
            justification="Initech's people sign in through their own SSO with a hardware "
            "key; two-factor sign-in here would be a second prompt. Until SSO lands.",
            expires_at=timezone.now() + dt.timedelta(days=60),
        )
        exception_decide(
            actor=Actor.for_user(admin),
            decided_by=admin,
            exception=exception,
            approve=True,
            note="Compensating control: SSO with hardware keys, reviewed.",
        )


def seed_demo_compliance(*, now: dt.datetime | None = None) -> TestRun | None:
    """Everything above, once: None when the demo's evidence is there already."""
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    with all_tenants_context():
        if TestRun.unscoped.filter(trigger=TestRun.Trigger.DEMO).exists():
            return None
    now = now or timezone.now()
    catalog_sync()
    tenants = demo_tenants()
    settled = (now - SETTLE_TIME).replace(minute=0, second=0, microsecond=0)
    for tenant in tenants:
        reconcile_tenant(tenant, since=settled - RECONCILED, until=settled)
    _decisions({t.slug: t for t in tenants})
    run = test_run_request(actor=ACTOR, trigger=TestRun.Trigger.DEMO, enqueue=False)
    return test_run_execute(run_id=run.pk)
