"""The web tests' two tenants and fleets, for the data-flow pages."""

from tests.web.conftest import fleet_a, fleet_b, world

__all__ = ["fleet_a", "fleet_b", "world"]
