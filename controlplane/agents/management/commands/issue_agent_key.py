import shlex
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from controlplane.agents.client_env import client_environment
from controlplane.agents.models import Agent, EdgeNode, Site
from controlplane.agents.services import agent_create, agent_credentials_issue, device_register
from controlplane.audit.services import Actor
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Issue a key for an agent and print, as NAME=value lines for `export`, what a client "
        "on the agent's device needs (OTLP, OpenAI and Anthropic SDK variables and the "
        "device proof). With --create, register the agent and a device first. The device "
        "gets a new key either way: its previous key stops working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--agent", required=True, help="agent name")
        parser.add_argument(
            "--create",
            action="store_true",
            help="register the agent (and a device at the tenant's site)",
        )
        parser.add_argument("--site", help="site name (default: the tenant's only site)")

    def handle(
        self, *args: Any, tenant: str, agent: str, create: bool, site: str | None, **options: Any
    ) -> None:
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"--tenant: no tenant with slug {tenant!r}")
        actor = Actor.system("issue_agent_key")
        with tenant_context(found), transaction.atomic():
            the_site = self._site(site)
            edge = EdgeNode.objects.filter(site=the_site).order_by("created_at").first()
            if edge is None:
                raise CommandError(f"--site: site {the_site.name!r} has no edge node")
            the_agent = Agent.objects.filter(name=agent).select_related("device").first()
            if the_agent is None and not create:
                raise CommandError(
                    f"--agent: no agent {agent!r} in {tenant}; add --create to register it"
                )
            if the_agent is None:
                device, _ = device_register(actor=actor, site=the_site, name=f"{agent}-device")
                the_agent = agent_create(actor=actor, tenant=found, name=agent, device=device)
            try:
                _, agent_key, device_key = agent_credentials_issue(actor=actor, agent=the_agent)
            except ValidationError as exc:
                raise CommandError(f"--agent: {' '.join(exc.messages)}") from None
            environment = client_environment(
                agent=the_agent, edge=edge, agent_key=agent_key, device_key=device_key
            )
        for name, value in environment.items():
            self.stdout.write(f"{name}={shlex.quote(value)}")

    def _site(self, name: str | None) -> Site:
        sites = Site.objects.all()
        if name:
            sites = sites.filter(name=name)
        found = list(sites[:2])
        if not found:
            raise CommandError("--site: no such site" if name else "--tenant: it has no site yet")
        if len(found) > 1:
            raise CommandError("--site: the tenant has several sites; name one")
        return found[0]
