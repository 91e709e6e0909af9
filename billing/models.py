"""Prices of model tokens, effective-dated: the basis of cost in the ledger."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from controlplane.core.ids import new_id


class ModelPrice(models.Model):
    """What the MSP pays a provider per million tokens of a model, from a date on.

    MSP-wide, not per tenant: tenant-specific markups belong to billing plans.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    provider = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    effective_from = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    AUDIT_FIELDS = (
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
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
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d}"

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        return (
            self.input_per_million * input_tokens + self.output_per_million * output_tokens
        ) / Decimal(1_000_000)
