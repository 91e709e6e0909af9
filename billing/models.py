"""Prices of model tokens, effective-dated: the basis of cost in the ledger."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from controlplane.core.ids import new_id
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
        return TokenRates(
            input=self.input_per_million,
            output=self.output_per_million,
            cached_input=self.cached_input_per_million,
            cache_write=self.cache_write_per_million,
            reasoning=self.reasoning_per_million,
        )

    def cost(self, tokens: TokenCounts) -> Decimal:
        return self.rates().cost(tokens)
