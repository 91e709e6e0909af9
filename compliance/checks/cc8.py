"""CC8, change management: every configuration change an edge received is versioned,
attributed, intact and in the audit trail, and the audit trail itself verifies."""

from __future__ import annotations

import hashlib

from compliance.checks import Context, Failing, Outcome, check
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import audit_verify
from controlplane.gateway.bundle import canonical_json
from controlplane.gateway.models import ConfigChange


@check("cc8.config_changes", version=1)
def config_changes(ctx: Context) -> Outcome:
    """Each published bundle version of the period names who published it, links to the
    site's version before it, still has the content its SHA-256 was taken of, and has
    its ``config.published`` audit entry."""
    changes = ctx.rows(
        ConfigChange.objects.filter(created_at__lt=ctx.period_end).order_by("site_id", "version")
    )
    audited = set(
        ctx.values(
            AuditEvent.objects.filter(
                action="config.published",
                target_type="gateway.configchange",
                occurred_at__gte=ctx.period_start,
            ).values_list("target_id", flat=True)
        )
    )
    previous: dict[object, int] = {}
    failing, population = [], []
    for change in changes:
        expected_previous = previous.get(change.site_id)
        previous[change.site_id] = change.version
        if change.created_at < ctx.period_start:
            continue
        label = f"site {change.site_id} v{change.version}"
        problems = []
        if not change.actor_label:
            problems.append("no publisher recorded")
        if change.previous_version != expected_previous:
            problems.append(
                f"says it follows v{change.previous_version}, the site's last was "
                f"v{expected_previous}"
            )
        if hashlib.sha256(canonical_json(change.content)).hexdigest() != change.payload_sha256:
            problems.append("content no longer matches its SHA-256")
        if str(change.pk) not in audited:
            problems.append("no config.published entry in the audit trail")
        if problems:
            failing.append(Failing(f"config_change:{change.pk}", label, "; ".join(problems)))
        population.append(
            {
                "key": f"config_change:{change.pk}",
                "site_id": change.site_id,
                "version": change.version,
                "previous_version": change.previous_version,
                "published_at": change.created_at,
                "published_by": change.actor_label,
                "payload_sha256": change.payload_sha256,
                "summary": change.summary[:200],
            }
        )
    return Outcome(
        summary=f"{len(population)} configuration versions published, "
        f"{len(population) - len(failing)} attributed, linked, intact and audited",
        population=population,
        failing=failing,
    )


@check("cc8.audit_trail", version=1, scope="msp")
def audit_trail(ctx: Context) -> Outcome:
    """The audit trail's hash chain verifies end to end (``verify_audit_log``)."""
    ctx.note("controlplane.audit.services.audit_verify(): walk audit_auditevent by seq")
    result = audit_verify()
    failing = []
    if not result.ok:
        failing.append(
            Failing(f"audit_event:{result.seq}", f"entry #{result.seq}", str(result.problem))
        )
    return Outcome(
        summary=f"{result.checked} audit entries verified"
        + ("" if result.ok else f"; {result.problem}"),
        population=[{"key": "audit_chain", "checked": result.checked, "ok": result.ok}],
        failing=failing,
        metrics={"entries": result.checked},
    )
