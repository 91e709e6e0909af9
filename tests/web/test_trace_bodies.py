"""Least privilege for bodies: who reads prompts and responses in the trace pages.

Owner, admin and member (and staff admins and operators) read them; billing, viewer and
the staff auditor see every span's metadata with the bodies withheld and a note saying
so, and the trace list offers them no text search (a search that matches would reveal
what a body holds). Another tenant's trace stays 404 for every role.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.telemetry.body_access import SEARCH_NOTE, WITHHELD_NOTE
from tests.conftest import signed_in
from tests.web.conftest import Fleet, World
from tests.web.test_traces import a_trace, new_trace_id

pytestmark = pytest.mark.django_db

READERS = {"owner": True, "admin": True, "member": True, "billing": False, "viewer": False}
STAFF_READERS = {"admin": True, "operator": True, "auditor": False}


def client_for(
    who: str,
    world: World,
    make_customer: Callable[..., User],
    make_staff: Callable[..., User],
) -> tuple[Client, str]:
    area, _, role = who.partition(":")
    if area == "staff":
        return signed_in(make_staff(role)), "console"
    return signed_in(make_customer(world.a, role)), "portal"


@pytest.mark.parametrize(
    ("who", "reads"),
    [(f"tenant:{role}", reads) for role, reads in READERS.items()]
    + [(f"staff:{role}", reads) for role, reads in STAFF_READERS.items()],
)
def test_bodies_and_text_search_follow_the_role(
    world: World,
    fleet_a: Fleet,
    fleet_b: Fleet,
    make_customer: Callable[..., User],
    make_staff: Callable[..., User],
    who: str,
    reads: bool,
) -> None:
    trace_id, b_trace = new_trace_id(), new_trace_id()
    a_trace(fleet_a, trace_id, timezone.now() - dt.timedelta(minutes=1))
    a_trace(fleet_b, b_trace, timezone.now() - dt.timedelta(minutes=1), label="globex-")
    client, area = client_for(who, world, make_customer, make_staff)

    detail = client.get(reverse(f"web:{area}_trace", args=[world.a.slug, trace_id]))
    page = detail.content.decode()
    assert detail.status_code == 200
    # Metadata for everyone: the spans, tokens, cost, status messages.
    assert "chat gpt-4o-mini" in page and "812 / 120" in page and "$0.00019" in page
    assert "ERP answered 503" in page
    assert ("plain text answer" in page) is reads
    assert ("&quot;messages&quot;" in page) is reads
    assert (WITHHELD_NOTE in page) is not reads

    listing = client.get(
        reverse(f"web:{area}_traces", args=[world.a.slug]), {"q": "nothing matches this"}
    )
    assert listing.status_code == 200
    assert ("q" in listing.context["form"].fields) is reads
    shown = [row.trace_id for row in listing.context["rows"]]
    # Without the permission the text is not searched at all (so it cannot filter).
    assert shown == ([] if reads else [trace_id])
    assert (SEARCH_NOTE in listing.content.decode()) is not reads

    other = client.get(reverse(f"web:{area}_trace", args=[world.a.slug, b_trace]))
    assert other.status_code == 404
