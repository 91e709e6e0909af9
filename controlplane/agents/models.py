"""The registry of what runs at customer sites: sites, edge nodes, devices, agents.

"A registered agent on authorized hardware": an agent key works only together with
the key of the device the agent is registered on. Only SHA-256 digests of agent and
device keys are stored; the node token is kept encrypted because the control plane
presents it to the edge node when it pulls.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel


class Site(TenantOwnedModel):
    """A customer location with one or more edge nodes."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200)
    location = models.CharField(max_length=200, blank=True)
    config_version = models.BigIntegerField(
        default=1, help_text="Raised on every change its edge nodes must learn about."
    )
    collector_auto_register = models.BooleanField(
        default=False,
        help_text="A site collector may register agents the site does not know yet (else "
        "their spans are refused).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = ("name", "location", "collector_auto_register")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="site_unique_name")]

    def __str__(self) -> str:
        return self.name


class EdgeNode(TenantOwnedModel):
    """The routing gateway and telemetry collector at a site."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="edge_nodes")
    name = models.CharField(max_length=200)
    pull_url = models.URLField(help_text="Where the control plane reaches the node.")
    agent_url = models.URLField(help_text="Where agents at the site reach the node.")
    encrypted_token = models.TextField()
    expected_version = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Operational state, written by the pull worker.
    cursor = models.BigIntegerField(default=0, help_text="Last spool cursor in both stores.")
    config_version_applied = models.BigIntegerField(default=0)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    heartbeat = models.JSONField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # One puller at a time: a worker holds the lease while it pulls and writes a batch.
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A batch written to the ledger but not yet to ClickHouse: a retry re-pulls exactly
    # these records, so its ClickHouse dedup token is the same.
    pending_after = models.BigIntegerField(null=True, blank=True)
    pending_upto = models.BigIntegerField(null=True, blank=True)
    pending_count = models.PositiveIntegerField(null=True, blank=True)
    # Records of this node's batches that no store would take, not yet replayed
    # (telemetry.DeadLetter); the rest of their batches went on.
    dead_letter_count = models.PositiveIntegerField(default=0)

    AUDIT_FIELDS = ("name", "pull_url", "agent_url", "expected_version", "site")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="edgenode_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class EdgeNodeVersionChange(TenantOwnedModel):
    """A version an edge node reported for the first time: its deployment history."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    edge_node = models.ForeignKey(
        EdgeNode, on_delete=models.CASCADE, related_name="version_changes"
    )
    version = models.CharField(max_length=40)
    previous_version = models.CharField(max_length=40, blank=True)
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["-observed_at"]
        indexes = [models.Index(fields=["edge_node", "-observed_at"])]

    def __str__(self) -> str:
        return f"{self.edge_node_id}: {self.previous_version or 'new'} -> {self.version}"


class Device(TenantOwnedModel):
    """Hardware agents run on. Agents prove they run on it with the device key."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=200)
    fingerprint = models.CharField(
        max_length=200, blank=True, help_text="Hardware description or serial, for people."
    )
    key_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    AUDIT_FIELDS = ("name", "fingerprint", "site", "revoked_at")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="device_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Agent(TenantOwnedModel):
    """An AI agent the MSP operates for the tenant.

    ``tools``, ``data_classes``, ``operating_window``, ``allowed_models`` and ``tier``
    override the gateway's defaults for the agent's ``role`` when set (non-empty);
    empty means "as the role default says" (controlplane/gateway/bundle.py).
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"

    class Tier(models.TextChoices):
        SIMPLE = "simple"
        STANDARD = "standard"
        COMPLEX = "complex"
        # The edge scores each request into one of the three (docs/decisions/0023).
        AUTO = "auto", "Auto (scored per request)"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200)
    department = models.ForeignKey(
        "tenants.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="agents",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    purpose = models.TextField(blank=True)
    role = models.CharField(
        max_length=50, blank=True, help_text="Policy role, e.g. marketing, finance, hr."
    )
    data_classes = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    tools = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    operating_window = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"days": [0-6, Monday=0], "start": "08:00", "end": "18:00", "tz": "UTC"}',
    )
    allowed_models = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        help_text="Models the agent may use; empty: as its role default (empty there: any).",
    )
    tier = models.CharField(
        max_length=20,
        choices=Tier.choices,
        blank=True,
        help_text="Task complexity tier for routing; empty: as its role default.",
    )
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, null=True, blank=True, related_name="agents"
    )
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="registered_agents",
        help_text="The site whose collector may speak for the agent when it runs on no "
        "device there (an agent on a device is at its device's site).",
    )
    max_requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="The gateway refuses this agent's requests beyond this rate (429); empty: as its "
        "role default, else the tenant's policy.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = (
        "name",
        "department",
        "owner",
        "purpose",
        "role",
        "data_classes",
        "tools",
        "operating_window",
        "allowed_models",
        "tier",
        "device",
        "site",
        "max_requests_per_minute",
        "status",
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="agent_unique_name")]

    def __str__(self) -> str:
        return self.name


class AgentKey(TenantOwnedModel):
    """A credential of one agent, valid only from the agent's device."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="keys")
    key_id = models.CharField(max_length=24, unique=True)
    key_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    AUDIT_FIELDS = ("key_id", "revoked_at")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"acpk_{self.key_id}_…"


class SiteCollectorKey(TenantOwnedModel):
    """The credential of an OpenTelemetry Collector at a site: it may send the spans of
    any agent registered at the site (docs/edge-protocol.md, "Site collectors")."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="collector_keys")
    name = models.CharField(max_length=200, help_text="Which collector uses it, for people.")
    key_id = models.CharField(max_length=24, unique=True)
    key_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    AUDIT_FIELDS = ("name", "key_id", "rotated_at", "revoked_at")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"acpc_{self.key_id}_…"
