"""docs/api.md's worked example, run against a live server so the page stays true."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from controlplane.accounts.models import User
from controlplane.agents.models import Agent
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import Provider
from controlplane.gateway.services import credential_secret
from tenants.models import Tenant
from tests.api.conftest import issue_token

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "provision.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provision_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_shows_the_example_as_it_is() -> None:
    page = (REPO / "docs" / "api.md").read_text()
    assert f"```python\n{EXAMPLE.read_text()}```" in page


@pytest.mark.django_db(transaction=True)
def test_the_worked_example_provisions_a_tenant(
    live_api: str, make_staff: Callable[..., User]
) -> None:
    token = issue_token(make_staff("operator", with_mfa=False))
    headers = {"Authorization": f"Bearer {token}"}

    provider_key = "sk-initech-" + "Qm9vX2V4YW1wbGU"
    with httpx.Client(base_url=live_api, headers=headers, timeout=30) as api:
        result = load_example().provision(api, "initech", "Initech", provider_key)

    assert result["node_token"].startswith("acpn_")
    assert result["device_key"].startswith("acpd_")
    assert result["agent_key"].startswith("acpk_")
    assert result["usage"]["rows"] == [] and result["usage_csv"].startswith("agent_id,agent,day")
    assert result["credential"]["last4"] == provider_key[-4:]
    assert provider_key not in json.dumps(result)
    assert result["route"]["candidates"][0]["provider_id"] == result["provider"]["id"]
    assert result["policy"]["pii"] == "redact"
    assert result["budget"]["limit"] == "500.000000" and result["budget"]["spend"] == "0.000000"
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.mfa_required
    with tenant_context(tenant):
        agent = Agent.objects.get(name="invoice-triage")
        assert agent.device_id is not None and agent.department is not None
        assert agent.department.name == "Finance"
        provider = Provider.objects.get(name="initech-azure")
    assert credential_secret(provider.pk) == provider_key
    with all_tenants_context():
        audit = list(AuditEvent.objects.values("before", "after", "target_label"))
    assert provider_key not in json.dumps(audit, default=str)
