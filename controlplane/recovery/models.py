"""The record of each recovery drill: SOC 2 availability evidence (A1.2, A1.3)."""

from __future__ import annotations

from django.db import models

from controlplane.core.ids import new_id


class DrillRun(models.Model):
    """One run of ``manage.py backup_drill``: each step with its time and outcome.

    MSP-level, not tenant-owned: the drill covers the whole deployment. ``steps`` is a
    list of ``{"name", "ok", "seconds", "detail"}`` in the order they ran; ``detail``
    holds what the step measured (sizes, row counts, events) or why it failed.
    """

    class Outcome(models.TextChoices):
        PASSED = "passed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    period_from = models.DateTimeField()
    period_to = models.DateTimeField()
    steps = models.JSONField(default=list)
    host = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Recovery drill {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"

    @property
    def total_seconds(self) -> float:
        return round(sum(step.get("seconds", 0.0) for step in self.steps), 3)
