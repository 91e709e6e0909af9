"""Who may read prompts and responses: the bodies of captured requests.

Usage and cost are for everyone who may see a tenant's traces; what an agent was asked
and what it answered is for those whose work needs it (docs/decisions, "bodies"). Those
without the permission still see every span's metadata (timing, model, tokens, cost,
status) with the bodies withheld, and cannot search the text, since a search that
matches is itself a way to read a body.
"""

from __future__ import annotations

from controlplane.accounts.models import StaffRole
from tenants.models import TenantRole

TENANT_BODY_READERS: frozenset[str] = frozenset(
    {TenantRole.OWNER, TenantRole.ADMIN, TenantRole.MEMBER}
)
# The auditor examines controls and evidence, not customers' content.
STAFF_BODY_READERS: frozenset[str] = frozenset({StaffRole.ADMIN, StaffRole.OPERATOR})

WITHHELD_NOTE = (
    "Prompts and responses are withheld: your role may see usage and cost, not the bodies."
)
SEARCH_NOTE = "Searching the text needs the permission to read prompts and responses."


def can_read_bodies(*, staff_role: str | None, tenant_role: str | None) -> bool:
    """``staff_role`` for MSP staff, else the customer's ``tenant_role``."""
    if staff_role:
        return staff_role in STAFF_BODY_READERS
    return tenant_role in TENANT_BODY_READERS
