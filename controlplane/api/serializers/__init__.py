"""Serializers of the REST API: they validate input and shape output, nothing more.

Writes go through the services (tenants.services, controlplane.agents.services, ...),
never through ``serializer.save()``.
"""
