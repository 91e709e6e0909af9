"""Site collectors on a site's page, in the portal and the console: issue, rotate and
revoke their keys (each shown once, like agent keys), and whether they may register
agents the site does not know yet (docs/edge-protocol.md, "Site collectors")."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect

from controlplane.agents import collectors, services
from controlplane.agents.models import EdgeNode, Site, SiteCollectorKey
from controlplane.web.forms import add_service_error
from controlplane.web.registry_forms import CollectorKeyForm, SiteCollectorsForm
from controlplane.web.registry_views import show_once, site_page
from controlplane.web.scope import WRITE, Scope, tenant_views
from controlplane.web.secret_once import Secret, SecretBox


def _collector_config(scope: Scope, site: Site, key: str) -> str:
    """The collector's exporter settings for this site's first edge node."""
    node = scope.rows(EdgeNode).filter(site=site).order_by("name").first()
    endpoint = node.agent_url if node else "<the edge node's agent URL>"
    return (
        "exporters:\n"
        "  otlphttp/acp:\n"
        f"    endpoint: {endpoint}\n"
        "    headers:\n"
        f'      Authorization: "Bearer {key}"\n'
    )


def _key_box(scope: Scope, site: Site, title: str, key: str, *, rotated: bool) -> SecretBox:
    intro = (
        "The collector sends it with every export. It may send the spans of any agent "
        "registered at this site, each mapped by its resource attribute agent.id (the "
        "agent's id or name) or service.name (its name)."
    )
    if rotated:
        intro += (
            " The previous key stops working when the site's edge nodes get the new "
            "configuration, at their next pull (normally within seconds)."
        )
    return SecretBox(
        title=title,
        intro=intro,
        items=[
            Secret("Collector key", key),
            Secret(
                "Collector configuration",
                _collector_config(scope, site, key),
                "Add the exporter to the traces pipeline of the collector's configuration.",
            ),
        ],
        warning="The collector key is shown only this once.",
    )


def collector_key_issue(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    site = scope.get(Site, pk)
    form = CollectorKeyForm(data=scope.request.POST)
    if form.is_valid():
        try:
            key, plaintext = collectors.collector_key_issue(
                actor=scope.actor, site=site, **form.cleaned_data
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            title = f"Collector key {key.name} was issued"
            return show_once(
                scope, _key_box(scope, site, title, plaintext, rotated=False), "site", pk
            )
    return site_page(scope, site, collector_form=form)


def collector_key_rotate(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    key = scope.get(SiteCollectorKey, pk)
    try:
        plaintext = collectors.collector_key_rotate(actor=scope.actor, key=key)
    except ValidationError as error:
        messages.error(scope.request, f"{key.name}: {' '.join(error.messages)}")
        return redirect(scope.url("site", key.site_id))
    box = _key_box(scope, key.site, f"{key.name} has a new key", plaintext, rotated=True)
    return show_once(scope, box, "site", key.site_id)


def collector_key_revoke(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    key = scope.get(SiteCollectorKey, pk)
    if key.revoked_at is not None:
        messages.info(scope.request, f"{key.name} was already revoked.")
    else:
        collectors.collector_key_revoke(actor=scope.actor, key=key)
        messages.success(
            scope.request,
            f"{key.name} was revoked: the site's edges refuse it from their next pull.",
        )
    return redirect(scope.url("site", key.site_id))


def site_collectors(scope: Scope, pk: uuid.UUID) -> HttpResponse:
    site = scope.get(Site, pk)
    form = SiteCollectorsForm(data=scope.request.POST)
    if form.is_valid():
        wanted = form.cleaned_data["collector_auto_register"]
        if wanted != site.collector_auto_register:
            services.site_update(actor=scope.actor, site=site, collector_auto_register=wanted)
        messages.success(
            scope.request,
            "Collectors at this site register agents it does not know yet."
            if wanted
            else "Collectors at this site may send only the spans of its registered agents.",
        )
    return redirect(scope.url("site", site.pk))


COLLECTOR_KEY_ISSUE = tenant_views(collector_key_issue, WRITE)
COLLECTOR_KEY_ROTATE = tenant_views(collector_key_rotate, WRITE)
COLLECTOR_KEY_REVOKE = tenant_views(collector_key_revoke, WRITE)
SITE_COLLECTORS = tenant_views(site_collectors, WRITE)
