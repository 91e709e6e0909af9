"""The billing API: who reads invoices, plans, credit notes and rated usage, who writes,
and the documents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.closing import month_close
from billing.models import Issuer, ModelPrice
from billing.services import billing_account_set
from controlplane.core.tenancy import tenant_context
from tests.api.conftest import World
from tests.billing.conftest import NOVEMBER, record_usage
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db


def _final_invoice(world: World) -> str:
    ModelPrice.objects.create(
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        effective_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    billing_account_set(
        actor=SYSTEM,
        tenant_id=world.a.pk,
        issuer=Issuer.objects.get(invoice_prefix="T-"),
        legal_name="Acme Corp Ltd",
        currency="USD",
        tax_rate=Decimal("20"),
    )
    record_usage(world.a, dt.datetime(2026, 11, 3, tzinfo=dt.UTC), input_tokens=10_000_000)
    invoice = month_close(tenant_id=world.a.pk, month=NOVEMBER)
    assert invoice is not None and invoice.number
    return str(invoice.pk)


@pytest.mark.parametrize("who", ["a:owner", "a:admin", "a:billing", "staff:auditor"])
def test_billing_readers_see_invoices_with_lines_and_documents(world: World, who: str) -> None:
    invoice_id = _final_invoice(world)
    api = world.api(who)
    listed = api.get("tenants/acme/invoices")
    assert listed.status_code == 200
    numbers = [item["number"] for item in listed.json()["results"]]
    assert "T-000001" in numbers and "T-a" in numbers  # this one and the fixture's
    detail = api.get(f"tenants/acme/invoices/{invoice_id}").json()
    # No fees in the plan: 10M input x 0.15 + 100k output x 0.60 = 1.56, plus 20 % tax
    assert (detail["subtotal"], detail["total"]) == ("1.56", "1.87")
    pdf = api.get(f"tenants/acme/invoices/{invoice_id}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    csv_text = api.get(f"tenants/acme/invoices/{invoice_id}/csv").content.decode()
    assert csv_text.splitlines()[0].startswith("invoice,month,position,kind")
    assert len(csv_text.splitlines()) == 1 + len(detail["lines"])
    rated = api.get("tenants/acme/rated-usage", since="2026-11-01", until="2026-12-01").json()
    assert {row["token_class"] for row in rated["results"]} == {"input", "output"}


@pytest.mark.parametrize("who", ["a:member", "a:viewer"])
def test_members_and_viewers_do_not_see_billing(world: World, who: str) -> None:
    api = world.api(who)
    for path in ("invoices", "plans", "credit-notes", "rated-usage"):
        response = api.get(f"tenants/acme/{path}")
        assert response.status_code == 403, path
        assert response["Content-Type"] == "application/problem+json"


def test_another_tenants_invoice_is_not_found(world: World) -> None:
    response = world.api("b:owner").get(f"tenants/acme/invoices/{world.a_objects['invoice']}")
    assert response.status_code == 404
    response = world.api("a:owner").get(f"tenants/acme/invoices/{world.b_objects['invoice']}")
    assert response.status_code == 404


def test_staff_create_plans_and_credit_notes_customers_cannot(world: World) -> None:
    plan = {
        "name": "Growth",
        "effective_from": "2026-12-01",
        "platform_fee": "250.00",
        "markup_percent": "15",
        "token_rates": {"claude-sonnet": "9.5"},
    }
    assert world.api("a:owner").post("tenants/acme/plans", plan).status_code == 403
    created = world.api("staff:operator").post("tenants/acme/plans", plan)
    assert created.status_code == 201, created.content
    assert created.json()["token_rates"] == {"claude-sonnet": "9.500000"}
    bad = world.api("staff:operator").post(
        "tenants/acme/plans", {**plan, "discount_percent": "120"}
    )
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"

    invoice = str(world.a_objects["invoice"])  # total 100.00, 1.00 already credited
    too_much = world.api("staff:admin").post(
        "tenants/acme/credit-notes", {"invoice": invoice, "net": "99.01", "reason": "x"}
    )
    assert too_much.status_code == 400
    assert too_much.json()["errors"][0]["field"] == "net"
    note = world.api("staff:admin").post(
        "tenants/acme/credit-notes", {"invoice": invoice, "net": "99.00", "reason": "refund"}
    )
    assert note.status_code == 201 and note.json()["total"] == "99.00"
    assert (
        world.api("a:billing")
        .post("tenants/acme/credit-notes", {"invoice": invoice, "net": "1", "reason": "x"})
        .status_code
        == 403
    )
    with tenant_context(world.a):
        listed = world.api("a:billing").get("tenants/acme/credit-notes", invoice=invoice).json()
    assert [n["net"] for n in listed["results"]] == ["99.00", "1.00"]


def test_staff_void_and_reissue_a_final_invoice_customers_cannot(world: World) -> None:
    invoice_id = _final_invoice(world)
    path = f"tenants/acme/invoices/{invoice_id}/void"
    assert world.api("a:owner").post(path, {"reason": "x"}).status_code == 403
    missing = world.api("staff:operator").post(path, {})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "reason"
    replaced = world.api("staff:operator").post(path, {"reason": "wrong plan"})
    assert replaced.status_code == 201, replaced.content
    assert replaced.json()["status"] == "draft" and replaced.json()["number"] == ""
    voided = world.api("a:billing").get(f"tenants/acme/invoices/{invoice_id}").json()
    assert (voided["status"], voided["number"]) == ("void", "T-000001")
    again = world.api("staff:operator").post(path, {"reason": "wrong plan"})
    assert again.status_code == 400


def test_staff_import_a_provider_bill_and_read_the_reconciliation(world: World) -> None:
    csv_text = "day,model,token_class,tokens,cost\n2026-11-03,gpt-4o-mini,input,5000,0.01\n"
    body = {"provider": "openai", "format": "csv", "content": csv_text}
    assert world.api("a:owner").post("provider-reconciliation", body).status_code == 403
    assert world.api("staff:auditor").post("provider-reconciliation", body).status_code == 403
    imported = world.api("staff:operator").post("provider-reconciliation", body)
    assert imported.status_code == 201 and imported.json() == {"lines": 1}

    bad = world.api("staff:operator").post(
        "provider-reconciliation", {**body, "content": "day,model\n"}
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "content"

    # the day of the bill's line only: other tests' ledger rows may lie in the same month
    found = world.api("staff:auditor").get(
        "provider-reconciliation", provider="openai", since="2026-11-03", until="2026-11-04"
    )
    assert found.status_code == 200
    assert found.json() == [
        {
            "provider": "openai",
            "day": "2026-11-03",
            "model": "gpt-4o-mini",
            "token_class": "input",
            "provider_tokens": 5000,
            "ledger_tokens": 0,
            "provider_cost": "0.010000000",
            "ledger_cost": "0.000000",
            "cause": "missing ingestion",
        }
    ]
    limited = world.api("staff:admin", tenant=world.a)
    assert (
        limited.get(
            "provider-reconciliation", provider="openai", since="2026-11-01", until="2026-12-01"
        ).status_code
        == 403
    )
    backwards = world.api("staff:auditor").get(
        "provider-reconciliation", provider="openai", since="2026-12-01", until="2026-11-01"
    )
    assert backwards.status_code == 400
