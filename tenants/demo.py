"""The demo MSP: three tenants with departments and people of every role.

Every demo login shares one password, and demo staff share one published TOTP secret
so a newcomer can pass two-factor sign-in (``manage.py demo_mfa_code``). None of this
runs in production.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from controlplane.accounts.models import StaffRole, TOTPDevice, User
from controlplane.audit.services import Actor
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Tenant, TenantRole
from tenants.services import (
    customer_user_create,
    department_create,
    staff_user_create,
    tenant_create,
)

DEMO_PASSWORD = "demo-password-2026"
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ACTOR = Actor.system("seed_demo")


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    departments: tuple[str, ...]
    people: tuple[tuple[str, str], ...]
    mfa_required: bool = False


STAFF = (
    ("admin@msp.example", StaffRole.ADMIN, "Avery Admin"),
    ("operator@msp.example", StaffRole.OPERATOR, "Oli Operator"),
    ("auditor@msp.example", StaffRole.AUDITOR, "Ada Auditor"),
)

TENANTS = (
    DemoTenant(
        "acme",
        "Acme Corp",
        ("Marketing", "Finance", "Engineering", "Support"),
        (
            ("owner@acme.example", TenantRole.OWNER),
            ("admin@acme.example", TenantRole.ADMIN),
            ("member@acme.example", TenantRole.MEMBER),
            ("billing@acme.example", TenantRole.BILLING),
            ("viewer@acme.example", TenantRole.VIEWER),
        ),
    ),
    DemoTenant(
        "globex",
        "Globex Corporation",
        ("Research", "Operations", "HR"),
        (("owner@globex.example", TenantRole.OWNER), ("member@globex.example", TenantRole.MEMBER)),
    ),
    DemoTenant(
        "initech",
        "Initech",
        ("Finance", "IT"),
        (
            ("owner@initech.example", TenantRole.OWNER),
            ("viewer@initech.example", TenantRole.VIEWER),
        ),
        mfa_required=False,
    ),
)


def demo_logins() -> list[tuple[str, str]]:
    """(email, what it is) for every demo login, as the README lists them."""
    logins = [(email, f"MSP staff, {role}") for email, role, _ in STAFF]
    for tenant in TENANTS:
        logins += [(email, f"{tenant.slug} {role}") for email, role in tenant.people]
    return logins


def seed_demo() -> bool:
    """Create the demo data if missing. Returns False when it was already there."""
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    if User.objects.filter(email=STAFF[0][0]).exists():
        return False
    with transaction.atomic():
        for email, role, name in STAFF:
            user = staff_user_create(
                actor=ACTOR, email=email, role=role, password=DEMO_PASSWORD, full_name=name
            )
            TOTPDevice.objects.create(
                user=user,
                encrypted_secret=key_ring().encrypt(DEMO_TOTP_SECRET),
                confirmed_at=timezone.now(),
            )
        for spec in TENANTS:
            tenant = tenant_create(
                actor=ACTOR, slug=spec.slug, name=spec.name, mfa_required=spec.mfa_required
            )
            for department in spec.departments:
                department_create(actor=ACTOR, tenant=tenant, name=department)
            for email, tenant_role in spec.people:
                customer_user_create(
                    actor=ACTOR,
                    tenant=tenant,
                    email=email,
                    role=tenant_role,
                    password=DEMO_PASSWORD,
                    full_name=email.split("@")[0].title() + " at " + spec.name,
                )
    return True


def demo_tenants() -> list[Tenant]:
    return list(Tenant.objects.filter(slug__in=[t.slug for t in TENANTS]))


def demo_departments(tenant: Tenant) -> list[Department]:
    with tenant_context(tenant):
        return list(Department.objects.all())
