from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from controlplane.accounts.models import User
from controlplane.core.tenancy import all_tenants_context
from tenants import selectors
from tenants.models import Tenant


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to their area: staff to the console's fleet view (every tenant,
    worst first), outside auditors to their evidence, customers to their portal."""
    user = request.user
    assert isinstance(user, User)
    if user.is_msp_staff:
        return redirect("web:console_fleet")
    if user.is_external_auditor:
        return redirect("web:auditor_home")
    with all_tenants_context():
        membership = selectors.membership_of(user)
    if membership is not None and membership.tenant.status == Tenant.Status.ACTIVE:
        return redirect("web:portal_home", membership.tenant.slug)
    return render(request, "web/home.html", {"membership": membership})
