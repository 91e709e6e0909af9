"""The demo fleet: a site, an edge node and a few agents per demo tenant.

The agents' keys are written to ``var/demo_agents.json`` (demo only) so that
``simulate_agents`` can send traffic as them.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from controlplane.agents.client_env import DEVICE_ID_HEADER, DEVICE_KEY_HEADER
from controlplane.agents.models import EdgeNode
from controlplane.agents.services import (
    agent_create,
    agent_key_issue,
    device_register,
    edge_node_create,
    site_create,
)
from controlplane.audit.services import Actor
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Tenant

ACTOR = Actor.system("seed_demo")
FIRST_EDGE_PORT = 4318

FLEET = {
    "acme": [
        ("marketing-assistant", "Marketing", "marketing"),
        ("finance-analyst", "Finance", "finance"),
        ("support-bot", "Support", "support"),
        ("code-reviewer", "Engineering", "engineering"),
    ],
    "globex": [
        ("research-scout", "Research", "engineering"),
        ("ops-copilot", "Operations", "support"),
        ("hr-helper", "HR", "hr"),
    ],
    "initech": [
        ("tps-reporter", "Finance", "finance"),
        ("it-helpdesk", "IT", "support"),
    ],
}


def demo_edge_url(index: int) -> str:
    return f"http://127.0.0.1:{FIRST_EDGE_PORT + index}"


def seed_demo_fleet(credentials_path: Path) -> None:
    """Create the fleet for tenants that have no site yet; write the agents' keys."""
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured("The demo data is never loaded in production.")
    credentials = json.loads(credentials_path.read_text()) if credentials_path.exists() else []
    for index, (slug, agents) in enumerate(FLEET.items()):
        tenant = Tenant.objects.get(slug=slug)
        with tenant_context(tenant):
            if EdgeNode.objects.exists():
                continue
            site = site_create(actor=ACTOR, tenant=tenant, name="Head office", location="HQ")
            url = demo_edge_url(index)
            edge_node_create(
                actor=ACTOR,
                site=site,
                name=f"{slug}-edge-1",
                pull_url=url,
                agent_url=url,
                expected_version="0.1.0",
            )
            departments = {d.name: d for d in Department.objects.all()}
            for name, department, role in agents:
                device, device_key = device_register(actor=ACTOR, site=site, name=f"{name}-host")
                agent = agent_create(
                    actor=ACTOR,
                    tenant=tenant,
                    name=name,
                    department=departments[department],
                    role=role,
                    device=device,
                    purpose=f"Demo {role} agent",
                )
                _, agent_key = agent_key_issue(actor=ACTOR, agent=agent)
                credentials.append(
                    {
                        "tenant": slug,
                        "name": name,
                        "role": role,
                        "endpoint": url,
                        "headers": {
                            "Authorization": f"Bearer {agent_key}",
                            DEVICE_ID_HEADER: str(device.pk),
                            DEVICE_KEY_HEADER: device_key,
                        },
                    }
                )
    credentials_path.parent.mkdir(parents=True, exist_ok=True)
    credentials_path.write_text(json.dumps(credentials, indent=2))
    credentials_path.chmod(0o600)
