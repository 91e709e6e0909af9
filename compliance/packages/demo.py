"""The demo's outside auditor: read-only access to Acme's and Globex's evidence of the
last 30 days, with the demo's shared password and TOTP secret, and its packages made."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from compliance.models import EvidencePackage
from compliance.packages.services import package_build
from compliance.periods import Period
from controlplane.accounts.auditors import auditor_create
from controlplane.accounts.models import AuditorAccount, TOTPDevice, User
from controlplane.audit.services import Actor
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import all_tenants_context
from tenants.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET
from tenants.models import Tenant

DEMO_AUDITOR = "auditor@cpa.example"
TENANTS = ("acme", "globex")


def seed_demo_auditor(*, now: dt.datetime | None = None) -> AuditorAccount | None:
    """The demo auditor, once (None when it exists). Its packages are made here, in this
    process: ``manage.py seed_demo`` may run where no worker takes the queued task (which,
    if it runs later, finds them made and does nothing)."""
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    if User.objects.filter(email=DEMO_AUDITOR).exists():
        return None
    now = now or timezone.now()
    account = auditor_create(
        actor=Actor.system("demo"),
        email=DEMO_AUDITOR,
        full_name="Casey Auditor",
        organization="Example CPA LLP",
        tenants=list(Tenant.objects.filter(slug__in=TENANTS)),
        period=Period(now.date() - dt.timedelta(days=30), now.date()),
        expires_at=now + dt.timedelta(days=365),
    )
    user = account.user
    user.set_password(DEMO_PASSWORD)
    user.save(update_fields=["password"])
    TOTPDevice.objects.create(
        user=user, encrypted_secret=key_ring().encrypt(DEMO_TOTP_SECRET), confirmed_at=now
    )
    with all_tenants_context():
        pending = list(
            EvidencePackage.unscoped.filter(status=EvidencePackage.Status.PENDING).values_list(
                "pk", flat=True
            )
        )
    for package_id in pending:
        package_build(package_id=package_id)
    return account
