"""The compliance pages (overview, the five criterion pages, evidence records) in the
outside auditor's area: what the tenant's own people see, read-only, of the auditor's
period only (``compliance_views.View.period``)."""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest, HttpResponse

from controlplane.web import compliance_views
from controlplane.web.auditor_area import account_period, auditor_account, auditor_view

Handler = Any


def _view(request: HttpRequest) -> compliance_views.View:
    return compliance_views.View(
        request=request,
        area="auditor",
        tenant=request.tenant,  # type: ignore[attr-defined]
        can_write=False,
        can_decide=False,
        period=account_period(auditor_account(request)),
    )


def _in_auditor_area(handler: Handler) -> Any:
    @auditor_view
    @functools.wraps(handler)
    def view(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = handler(_view(request), **kwargs)
        return response

    return view


OVERVIEW = _in_auditor_area(compliance_views.overview)
CRITERION = _in_auditor_area(compliance_views.criterion)
EVIDENCE = _in_auditor_area(compliance_views.evidence)
EVIDENCE_DOWNLOAD = _in_auditor_area(compliance_views.evidence_download)
