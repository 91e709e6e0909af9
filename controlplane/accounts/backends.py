from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from controlplane.accounts.models import User


class EmailBackend(ModelBackend):
    """Email (case-insensitive) and password. An outside auditor's account signs in, and
    keeps its sessions, only while its access lasts (``AuditorAccount.is_current``)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = kwargs.get("email", username)
        if not email or not password:
            return None
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user: Any) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if isinstance(user, User) and user.is_external_auditor:
            return user.auditor_account.is_current()
        return True

    def get_user(self, user_id: Any) -> User | None:
        """The session's user, with its auditor account in the same query."""
        user = User.objects.select_related("auditor_account").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
