"""Provision a customer end to end with the REST API, using plain httpx.

    ACP_URL=http://127.0.0.1:8000 ACP_TOKEN=$(python manage.py create_api_token \
        --email ops@msp.example) ACP_PROVIDER_KEY=sk-... \
        python docs/examples/provision.py initech "Initech"

docs/api.md walks through it; tests/api/test_docs_example.py runs it against a live
server, so it stays true.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import httpx


def post(api: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST with an Idempotency-Key: if the connection drops, sending the same request
    again with the same key returns the first answer instead of creating twice."""
    key = str(uuid.uuid4())
    for attempt in range(3):
        try:
            response = api.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            if attempt == 2:
                raise
            continue
        if response.is_error:
            # Errors are application/problem+json: `errors` names each field at fault.
            problem = response.json()
            raise SystemExit(f"{path}: {problem['detail']} {problem['errors']}")
        return dict(response.json())
    raise AssertionError("unreachable")


def patch(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.patch(path, json=body)
    if response.is_error:
        problem = response.json()
        raise SystemExit(f"{path}: {problem['detail']} {problem['errors']}")
    return dict(response.json())


def provision(api: httpx.Client, slug: str, name: str, provider_key: str) -> dict[str, Any]:
    # 1. The tenant (MSP staff token).
    tenant = post(api, "/api/v1/tenants", {"slug": slug, "name": name, "mfa_required": True})
    base = f"/api/v1/tenants/{tenant['slug']}"

    # 2. A department: usage and invoices are attributed to it.
    finance = post(api, f"{base}/departments", {"name": "Finance", "code": "FIN-01"})

    # 3. A site, its edge node (the node token is shown once), a device (its key too).
    site = post(api, f"{base}/sites", {"name": "Head office", "location": "Berlin"})
    node = post(
        api,
        f"{base}/edge-nodes",
        {
            "site": site["id"],
            "name": "hq-edge-1",
            "pull_url": "https://edge1.hq.example:8443",
            "agent_url": "http://10.0.0.5:4318",
        },
    )
    device = post(
        api, f"{base}/devices", {"site": site["id"], "name": "fin-ws-07", "fingerprint": "SN 4KX2"}
    )

    # 4. The agent, registered on the device in the department, and its key.
    agent = post(
        api,
        f"{base}/agents",
        {
            "name": "invoice-triage",
            "department": finance["id"],
            "device": device["id"],
            "role": "finance",
            "tools": ["erp.lookup"],
            "operating_window": {"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "19:00"},
        },
    )
    agent_key = post(api, f"{base}/agents/{agent['id']}/keys")

    # 5. The gateway: the tenant's own model endpoint and its API key (write-only: the
    #    answer shows only its last four characters), a route sending complex tasks to
    #    it, the content policy, and a hard monthly budget for the department.
    provider = post(
        api,
        f"{base}/providers",
        {
            "name": f"{slug}-azure",
            "kind": "openai",
            "base_url": f"https://{slug}.openai.azure.example/openai/v1",
            "model_names": ["gpt-4o"],
        },
    )
    credential = post(
        api, f"{base}/providers/{provider['id']}/credential", {"secret": provider_key}
    )
    route = post(
        api,
        f"{base}/routes",
        {
            "name": "complex via own Azure",
            "tier": "complex",
            "candidates": [{"provider_id": provider["id"], "model": "gpt-4o"}],
        },
    )
    policy = patch(
        api,
        f"{base}/policy",
        {"injection": "block", "pii": "redact", "tool_data_classes": {"erp.lookup": ["finance"]}},
    )
    budget = post(
        api,
        f"{base}/budgets",
        {
            "name": "Finance monthly",
            "scope": "department",
            "scope_id": finance["id"],
            "period": "month",
            "limit": "500.00",
            "kind": "hard",
        },
    )

    # 6. The tenant's first owner gets an emailed invitation.
    invitation = post(api, f"{base}/invitations", {"email": f"it@{slug}.example", "role": "owner"})

    # 7. Usage so far, by agent and day, as JSON and as CSV for a spreadsheet.
    usage = api.get(f"{base}/usage", params={"group_by": "agent,day"})
    usage.raise_for_status()
    csv = api.get(f"{base}/usage", params={"group_by": "agent,day", "format": "csv"})
    csv.raise_for_status()

    return {
        "tenant": tenant,
        "department": finance,
        "site": site,
        "edge_node": node,
        "node_token": node["token"],  # configure on the edge node; never shown again
        "device": device,
        "device_key": device["key"],  # install on the device; never shown again
        "agent": agent,
        "agent_key": agent_key["key"],  # give to the agent; never shown again
        "provider": provider,
        "credential": credential,  # last4, key id, version, age: never the key
        "route": route,
        "policy": policy,
        "budget": budget,
        "invitation": invitation,
        "usage": usage.json(),
        "usage_csv": csv.text,
    }


def main() -> None:
    slug, name = sys.argv[1], sys.argv[2]
    headers = {"Authorization": f"Bearer {os.environ['ACP_TOKEN']}"}
    with httpx.Client(base_url=os.environ["ACP_URL"], headers=headers, timeout=30) as api:
        result = provision(api, slug, name, os.environ["ACP_PROVIDER_KEY"])
    print(f"tenant {result['tenant']['slug']}: agent {result['agent']['name']} on device")
    print(f"{result['device']['name']}; usage rows: {len(result['usage']['rows'])}")


if __name__ == "__main__":
    main()
