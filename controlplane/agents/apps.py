from django.apps import AppConfig


class AgentsConfig(AppConfig):
    """The registry: sites, edge nodes, devices, agents and their keys."""

    name = "controlplane.agents"
    label = "agents"
