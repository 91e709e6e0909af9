"""CC6, logical and physical access: second factors, sign-in lockouts, access reviews,
agent keys and device bindings, provider credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q

from compliance.checks import Context, Failing, Outcome, check
from compliance.models import AccessReview
from controlplane.accounts.models import TOTPDevice, User
from controlplane.agents.models import Agent, AgentKey, Device
from controlplane.audit.models import AuditEvent
from controlplane.dashboards.operations import CREDENTIAL_MAX_AGE
from controlplane.gateway.models import ProviderCredential
from tenants.models import Membership

REVIEW_EVERY = dt.timedelta(days=90)
AGENT_KEY_MAX_AGE = dt.timedelta(days=180)
DEVICE_KEY_MAX_AGE = dt.timedelta(days=365)


def _day(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).date().isoformat() if moment else None


def _second_factor_gaps(ctx: Context, people: list[User]) -> tuple[set[Any], set[Any]]:
    """Of ``people``: who has no confirmed authenticator, and who signed in during the
    period without a second factor (from the audit trail)."""
    ids = [u.pk for u in people]
    enrolled = set(
        ctx.values(
            TOTPDevice.objects.filter(user_id__in=ids, confirmed_at__isnull=False).values_list(
                "user_id", flat=True
            )
        )
    )
    logins = AuditEvent.unscoped.filter(
        action="auth.login",
        target_type="accounts.user",
        target_id__in=[str(i) for i in ids],
        occurred_at__gte=ctx.period_start,
        occurred_at__lt=ctx.period_end,
        after__second_factor__isnull=True,
    ).values_list("target_id", flat=True)
    without = {u.pk for u in people if str(u.pk) in set(ctx.values(logins.distinct()))}
    return {u.pk for u in people} - enrolled, without


def _mfa_outcome(ctx: Context, people: list[User], who: str) -> Outcome:
    missing, bypassed = _second_factor_gaps(ctx, people)
    failing = []
    for user in people:
        if user.pk in missing:
            failing.append(Failing(f"user:{user.pk}", user.email, "no confirmed authenticator"))
        elif user.pk in bypassed:
            failing.append(
                Failing(f"user:{user.pk}", user.email, "signed in without a second factor")
            )
    population = [
        {
            "key": f"user:{u.pk}",
            "email": u.email,
            "enrolled": u.pk not in missing,
            "signed_in_without_second_factor": u.pk in bypassed,
        }
        for u in people
    ]
    return Outcome(
        summary=f"{len(people) - len(failing)} of {len(people)} {who} sign in with a second factor",
        population=population,
        failing=failing,
    )


@check("cc6.staff_mfa", version=1, scope="msp")
def staff_mfa(ctx: Context) -> Outcome:
    """Every active MSP staff account has a confirmed authenticator and signed in with
    it every time in the period."""
    staff = ctx.rows(User.objects.filter(is_active=True).exclude(staff_role="").order_by("email"))
    return _mfa_outcome(ctx, staff, "staff accounts")


@check("cc6.member_mfa", version=1)
def member_mfa(ctx: Context) -> Outcome:
    """The tenant requires a second factor, and every active member has one."""
    assert ctx.tenant is not None
    members = ctx.rows(
        Membership.objects.filter(user__is_active=True)
        .select_related("user")
        .order_by("user__email")
    )
    ctx.note("tenants_tenant.mfa_required", {"tenant": ctx.tenant.slug})
    outcome = _mfa_outcome(ctx, [m.user for m in members], "members")
    if not ctx.tenant.mfa_required:
        outcome.failing.insert(
            0,
            Failing(
                f"tenant:{ctx.tenant.pk}",
                ctx.tenant.name,
                "the tenant does not require two-factor sign-in",
            ),
        )
        outcome.summary += "; two-factor sign-in is not required"
    outcome.metrics = {"mfa_required": ctx.tenant.mfa_required}
    return outcome


@check("cc6.signin_lockouts", version=1, scope="msp")
def signin_lockouts(ctx: Context) -> Outcome:
    """Every account that failed to sign in ``LOGIN_MAX_FAILURES`` times or more in the
    period was locked out (the audit trail has its lockout)."""
    limit = settings.LOGIN_MAX_FAILURES
    events = AuditEvent.unscoped.filter(
        target_type="accounts.user",
        occurred_at__gte=ctx.period_start,
        occurred_at__lt=ctx.period_end,
        action__in=("auth.login_failed", "auth.locked_out", "auth.mfa_locked_out"),
    )
    per_account = ctx.values(
        events.values("target_id")
        .annotate(
            failures=Count("pk", filter=Q(action="auth.login_failed")),
            lockouts=Count("pk", filter=~Q(action="auth.login_failed")),
            label=Max("target_label"),
        )
        .order_by("target_id")
    )
    failing = [
        Failing(
            f"user:{row['target_id']}",
            row["label"],
            f"{row['failures']} failed sign-ins and no lockout",
        )
        for row in per_account
        if row["failures"] >= limit and not row["lockouts"]
    ]
    population = [
        {
            "key": f"user:{row['target_id']}",
            "failures": row["failures"],
            "lockouts": row["lockouts"],
        }
        for row in per_account
    ]
    locked = sum(1 for row in per_account if row["lockouts"])
    return Outcome(
        summary=f"{len(per_account)} accounts failed to sign in, {locked} were locked out; "
        f"{len(failing)} reached {limit} failures without a lockout",
        population=population,
        failing=failing,
        metrics={"max_failures": limit, "locked_accounts": locked},
    )


def _review_outcome(
    ctx: Context, people: list[dict[str, Any]], review: AccessReview | None, who: str
) -> Outcome:
    covered = {e["user_id"] for e in review.entries} if review else set()
    failing = []
    if review is None:
        failing.append(
            Failing("review:none", who, f"no access review in the last {REVIEW_EVERY.days} days")
        )
    for person in people:
        if review is not None and str(person["user_id"]) not in covered:
            failing.append(
                Failing(
                    f"user:{person['user_id']}",
                    person["email"],
                    "has access but was not in the last access review",
                )
            )
    population = [
        {
            "key": f"user:{p['user_id']}",
            "email": p["email"],
            "role": p["role"],
            "reviewed": str(p["user_id"]) in covered,
        }
        for p in people
    ]
    when = f"last reviewed {_day(review.reviewed_at)} by {review.reviewer_label}" if review else ""
    return Outcome(
        summary=f"{len(people)} {who} with access; "
        + (when or f"no review in {REVIEW_EVERY.days} days"),
        population=population,
        failing=failing,
        metrics={"last_review": review.reviewed_at if review else None},
    )


@check("cc6.access_review", version=1)
def access_review(ctx: Context) -> Outcome:
    """The tenant's people and roles were reviewed in the last 90 days, and everyone
    with access now was in that review."""
    reviews = ctx.rows(
        AccessReview.objects.filter(reviewed_at__gte=ctx.now - REVIEW_EVERY).order_by(
            "-reviewed_at"
        )[:1]
    )
    members = ctx.rows(
        Membership.objects.filter(user__is_active=True)
        .select_related("user")
        .order_by("user__email")
    )
    people = [{"user_id": m.user_id, "email": m.user.email, "role": m.role} for m in members]
    return _review_outcome(ctx, people, reviews[0] if reviews else None, "members")


@check("cc6.staff_access_review", version=1, scope="msp")
def staff_access_review(ctx: Context) -> Outcome:
    """The MSP's staff accounts and roles were reviewed in the last 90 days."""
    reviews = ctx.rows(
        AccessReview.unscoped.filter(
            tenant__isnull=True, reviewed_at__gte=ctx.now - REVIEW_EVERY
        ).order_by("-reviewed_at")[:1]
    )
    staff = ctx.rows(User.objects.filter(is_active=True).exclude(staff_role="").order_by("email"))
    people = [{"user_id": u.pk, "email": u.email, "role": u.staff_role} for u in staff]
    return _review_outcome(ctx, people, reviews[0] if reviews else None, "staff accounts")


@check("cc6.agent_keys", version=1)
def agent_keys(ctx: Context) -> Outcome:
    """No agent key is older than 180 days, and no disabled agent keeps an unrevoked key."""
    keys = ctx.rows(
        AgentKey.objects.filter(revoked_at__isnull=True).select_related("agent").order_by("key_id")
    )
    revoked = ctx.values(
        AgentKey.objects.filter(
            revoked_at__gte=ctx.period_start, revoked_at__lt=ctx.period_end
        ).values_list("key_id", flat=True)
    )
    failing, population = [], []
    for key in keys:
        age = ctx.now - key.created_at
        reason = ""
        if key.agent.status == Agent.Status.DISABLED:
            reason = "the agent is disabled but its key is not revoked"
        elif age > AGENT_KEY_MAX_AGE:
            reason = f"issued {age.days} days ago (limit {AGENT_KEY_MAX_AGE.days})"
        if reason:
            failing.append(Failing(f"agent_key:{key.pk}", f"{key.agent.name} {key.key_id}", reason))
        population.append(
            {
                "key": f"agent_key:{key.pk}",
                "key_id": key.key_id,
                "agent": key.agent.name,
                "agent_status": key.agent.status,
                "issued": _day(key.created_at),
                "age_days": age.days,
            }
        )
    return Outcome(
        summary=f"{len(keys)} active agent keys, {len(failing)} too old or of a disabled agent; "
        f"{len(revoked)} revoked in the period",
        population=population,
        failing=failing,
        metrics={"revoked_in_period": len(revoked), "max_age_days": AGENT_KEY_MAX_AGE.days},
    )


@check("cc6.device_bindings", version=1)
def device_bindings(ctx: Context) -> Outcome:
    """No agent is bound to a revoked device, and no device key is older than a year."""
    devices = ctx.rows(Device.objects.order_by("name"))
    rotations = dict(
        ctx.values(
            AuditEvent.objects.filter(action="device.key_rotated", target_type="agents.device")
            .values("target_id")
            .annotate(last=Max("occurred_at"))
            .values_list("target_id", "last")
        )
    )
    bound = ctx.values(
        Agent.objects.filter(status=Agent.Status.ACTIVE, device__isnull=False)
        .values("device_id")
        .annotate(agents=Count("pk"))
        .values_list("device_id", "agents")
    )
    agents_on = dict(bound)
    failing, population = [], []
    for device in devices:
        keyed_at = rotations.get(str(device.pk)) or device.created_at
        age = ctx.now - keyed_at
        agents = agents_on.get(device.pk, 0)
        reason = ""
        if device.revoked_at and agents:
            reason = f"revoked, but {agents} active agents are still bound to it"
        elif not device.revoked_at and age > DEVICE_KEY_MAX_AGE:
            reason = f"device key set {age.days} days ago (limit {DEVICE_KEY_MAX_AGE.days})"
        if reason:
            failing.append(Failing(f"device:{device.pk}", device.name, reason))
        population.append(
            {
                "key": f"device:{device.pk}",
                "name": device.name,
                "revoked": _day(device.revoked_at),
                "key_set": _day(keyed_at),
                "active_agents": agents,
            }
        )
    return Outcome(
        summary=f"{len(devices)} devices, {len(failing)} with a stale key or a revoked binding",
        population=population,
        failing=failing,
    )


def _credential_outcome(ctx: Context, credentials: list[ProviderCredential]) -> Outcome:
    failing, population = [], []
    for credential in credentials:
        age = ctx.now - credential.secret_set_at
        if age > CREDENTIAL_MAX_AGE:
            failing.append(
                Failing(
                    f"provider_credential:{credential.pk}",
                    f"{credential.provider.name} …{credential.last4}",
                    f"secret set {age.days} days ago (rotate every {CREDENTIAL_MAX_AGE.days})",
                )
            )
        population.append(
            {
                "key": f"provider_credential:{credential.pk}",
                "provider": credential.provider.name,
                "version": credential.version,
                "key_id": credential.key_id,
                "set": _day(credential.secret_set_at),
                "age_days": age.days,
            }
        )
    return Outcome(
        summary=f"{len(credentials)} provider credentials, {len(failing)} not rotated in "
        f"{CREDENTIAL_MAX_AGE.days} days",
        population=population,
        failing=failing,
        metrics={"max_age_days": CREDENTIAL_MAX_AGE.days},
    )


@check("cc6.provider_credentials", version=1)
def provider_credentials(ctx: Context) -> Outcome:
    """The tenant's own provider keys were rotated in the last 90 days."""
    credentials = ctx.rows(
        ProviderCredential.objects.filter(tenant=ctx.tenant)
        .select_related("provider")
        .order_by("provider__name")
    )
    return _credential_outcome(ctx, credentials)


@check("cc6.msp_provider_credentials", version=1, scope="msp")
def msp_provider_credentials(ctx: Context) -> Outcome:
    """The MSP-wide provider keys were rotated in the last 90 days."""
    credentials = ctx.rows(
        ProviderCredential.unscoped.filter(tenant__isnull=True)
        .select_related("provider")
        .order_by("provider__name")
    )
    return _credential_outcome(ctx, credentials)
