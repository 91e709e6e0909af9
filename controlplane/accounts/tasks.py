"""Periodic account housekeeping."""

from __future__ import annotations

from celery import shared_task

from controlplane.accounts.auditors import auditors_expire


@shared_task(name="accounts.expire_auditors")
def expire_auditors() -> int:
    """Deactivate (and audit) the auditor accounts whose access ended."""
    return auditors_expire()
