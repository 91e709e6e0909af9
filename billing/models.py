"""Prices of model tokens, effective-dated: the basis of cost in the ledger."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from controlplane.core.ids import new_id
from controlplane.core.tenancy import TenantOwnedModel
from edge.tokens import TokenCounts, TokenRates


class ModelPrice(models.Model):
    """What the MSP pays a provider per million tokens of a model, from a date on.

    MSP-wide, not per tenant: tenant-specific markups belong to billing plans.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    provider = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    # The token classes some providers price apart; blank means the same as the plain
    # input (cache read and write) or output (reasoning) price.
    cached_input_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    cache_write_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    reasoning_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = (
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
        "cached_input_per_million",
        "cache_write_per_million",
        "reasoning_per_million",
        "effective_from",
    )

    class Meta:
        ordering = ["provider", "model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "effective_from"], name="modelprice_unique_from"
            ),
            models.CheckConstraint(
                condition=models.Q(input_per_million__gte=0, output_per_million__gte=0),
                name="modelprice_not_negative",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(cached_input_per_million__isnull=True)
                    | models.Q(cached_input_per_million__gte=0)
                )
                & (
                    models.Q(cache_write_per_million__isnull=True)
                    | models.Q(cache_write_per_million__gte=0)
                )
                & (
                    models.Q(reasoning_per_million__isnull=True)
                    | models.Q(reasoning_per_million__gte=0)
                ),
                name="modelprice_classes_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d}"

    def rates(self) -> TokenRates:
        return TokenRates.of(self)

    def cost(self, tokens: TokenCounts) -> Decimal:
        return self.rates().cost(tokens)


class Issuer(models.Model):
    """Who issues invoices (the MSP's legal entity) and its number sequences.

    Numbers are taken from ``next_invoice_number`` / ``next_credit_note_number`` under a
    row lock in the finalising transaction, so a rollback gives the number back: the
    sequence has no gaps. The prefix is part of every number and never resets (no year).
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    tax_id = models.CharField(max_length=50, blank=True)
    invoice_prefix = models.CharField(max_length=20, unique=True)
    credit_note_prefix = models.CharField(max_length=20, unique=True)
    next_invoice_number = models.PositiveBigIntegerField(default=1)
    next_credit_note_number = models.PositiveBigIntegerField(default=1)
    review_threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("10000"),
        help_text="Invoices above this total need approval.",
    )

    def __str__(self) -> str:
        return self.name


class BillingAccount(TenantOwnedModel):
    """A tenant's billing details: one per tenant."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    issuer = models.ForeignKey(Issuer, on_delete=models.PROTECT, related_name="+")
    legal_name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    tax_id = models.CharField(max_length=50, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    tax_rate = models.DecimalField(
        max_digits=6, decimal_places=3, default=Decimal(0), help_text="Percent (VAT / sales tax)."
    )
    email = models.EmailField(blank=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="billingaccount_one_per_tenant"),
            models.CheckConstraint(
                condition=models.Q(tax_rate__gte=0, tax_rate__lte=100),
                name="billingaccount_tax_rate_percent",
            ),
        ]

    def __str__(self) -> str:
        return self.legal_name


class Plan(TenantOwnedModel):
    """What a tenant pays the MSP, from a day on (the next plan's start ends it).

    Usage is charged either at provider cost plus ``markup_percent`` or, when
    ``token_rates`` names a price per million tokens for a model (``"*"``: any other
    model), at that price. ``included_usage`` of usage charges a month is covered by the
    fees; a month's charges below ``minimum_commitment`` are topped up to it.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=100)
    effective_from = models.DateField()
    platform_fee = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    per_agent_fee = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    markup_percent = models.DecimalField(max_digits=7, decimal_places=3, default=Decimal(0))
    token_rates = models.JSONField(default=dict, blank=True)
    included_usage = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    minimum_commitment = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    discount_percent = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = (
        "name",
        "effective_from",
        "platform_fee",
        "per_agent_fee",
        "markup_percent",
        "token_rates",
        "included_usage",
        "minimum_commitment",
        "discount_percent",
    )

    class Meta:
        ordering = ["-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "effective_from"], name="plan_unique_from"),
            models.CheckConstraint(
                condition=models.Q(
                    platform_fee__gte=0,
                    per_agent_fee__gte=0,
                    markup_percent__gte=0,
                    included_usage__gte=0,
                    minimum_commitment__gte=0,
                    discount_percent__gte=0,
                    discount_percent__lte=100,
                ),
                name="plan_amounts_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} from {self.effective_from}"


RATING_KEY = ("day", "department_id", "agent_id", "provider", "model", "token_class")


class RatedUsage(TenantOwnedModel):
    """Provider cost of one token class, per day, department, agent, provider and model.

    Append-only: rating adds the *difference* between the ledger and what is already
    rated for a key, as the key's next ``revision``; the unique key makes a repeated or
    concurrent rating add nothing. ``invoice`` is the invoice that billed the row (null
    until a draft takes it): a row for a day of a closed month is billed by the next
    invoice as an adjustment.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    day = models.DateField()
    department_id = models.UUIDField(null=True)
    agent_id = models.UUIDField()
    provider = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    token_class = models.CharField(max_length=20)
    revision = models.PositiveIntegerField()
    tokens = models.BigIntegerField()
    cost = models.DecimalField(max_digits=20, decimal_places=9)
    rated_at = models.DateTimeField(auto_now_add=True)
    invoice = models.ForeignKey(
        "Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="rated"
    )

    KEY = RATING_KEY

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", *RATING_KEY, "revision"],
                nulls_distinct=False,
                name="ratedusage_key_revision",
            )
        ]
        indexes = [models.Index(fields=["tenant", "day"], name="ratedusage_tenant_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.provider}/{self.model} {self.token_class} r{self.revision}"


class Invoice(TenantOwnedModel):
    """A tenant's invoice for a month. A draft is live (month to date) and rebuilt on
    each rating; from ``finalised`` on it never changes: corrections are credit notes or
    a void and a reissue."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        REVIEW = "review"
        APPROVED = "approved"
        FINAL = "final"
        VOID = "void"

    class Payment(models.TextChoices):
        NONE = ""
        OPEN = "open"
        PAID = "paid"
        FAILED = "failed"
        VOID = "void"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    month = models.DateField(help_text="First day of the month billed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    issuer = models.ForeignKey(Issuer, on_delete=models.PROTECT, related_name="+")
    number = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3)
    tax_rate = models.DecimalField(max_digits=6, decimal_places=3)
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    tax = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    customer = models.JSONField(default=dict, help_text="Bill-to details as finalised.")
    approved_by = models.CharField(max_length=254, blank=True)
    finalised_at = models.DateTimeField(null=True, blank=True)
    audit_seq = models.BigIntegerField(null=True, blank=True)
    audit_hash = models.CharField(max_length=64, blank=True)
    pdf = models.BinaryField(null=True, blank=True)
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stripe_invoice_id = models.CharField(max_length=100, blank=True)
    payment_status = models.CharField(
        max_length=10, choices=Payment.choices, default=Payment.NONE, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "-created_at"]
        constraints = [
            # One live invoice per tenant and month: a repeated close finds it.
            models.UniqueConstraint(
                fields=["tenant", "month"],
                condition=~models.Q(status="void"),
                name="invoice_one_live_per_month",
            ),
            models.UniqueConstraint(
                fields=["issuer", "number"],
                condition=~models.Q(number=""),
                name="invoice_number_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "review", "approved"])
                | ~models.Q(number=""),
                name="invoice_final_has_number",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.month:%Y-%m}"


class InvoiceLine(TenantOwnedModel):
    class Kind(models.TextChoices):
        PLATFORM_FEE = "platform_fee"
        AGENT_FEE = "agent_fee"
        USAGE = "usage"
        MARKUP = "markup"
        ALLOWANCE = "allowance"
        MINIMUM = "minimum"
        DISCOUNT = "discount"
        ADJUSTMENT = "adjustment"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=300)
    department_id = models.UUIDField(null=True, blank=True)
    department = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    token_class = models.CharField(max_length=20, blank=True)
    quantity = models.DecimalField(max_digits=20, decimal_places=6)
    unit_price = models.DecimalField(max_digits=20, decimal_places=9)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    stripe_item_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoiceline_position")
        ]

    def __str__(self) -> str:
        return self.description


class CreditNote(TenantOwnedModel):
    """A correction of a final invoice. The credit notes of an invoice never add up to
    more than it, net or tax (``credit_note_issue``)."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=40)
    reason = models.CharField(max_length=300)
    net = models.DecimalField(max_digits=14, decimal_places=2)
    tax = models.DecimalField(max_digits=14, decimal_places=2)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    issued_at = models.DateTimeField()
    audit_seq = models.BigIntegerField()
    stripe_credit_note_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="creditnote_number_unique"),
            models.CheckConstraint(
                condition=models.Q(net__gt=0, tax__gte=0), name="creditnote_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class StripeEvent(models.Model):
    """A webhook event handled once (Stripe delivers at least once)."""

    event_id = models.CharField(max_length=100, primary_key=True)
    kind = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.event_id


class ProviderCostLine(models.Model):
    """What a provider's own usage or cost export says for a day, model and token class
    (MSP-wide: one provider account serves many tenants). Importing an export again
    replaces its days' lines; ``cost`` is null when the export has tokens only."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    provider = models.CharField(max_length=100)
    day = models.DateField()
    model = models.CharField(max_length=200)
    token_class = models.CharField(max_length=20)
    tokens = models.BigIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=20, decimal_places=9, null=True, blank=True)
    source = models.CharField(max_length=200)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "day", "model", "token_class"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "day", "model", "token_class"], name="providercostline_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.day} {self.model} {self.token_class}"
