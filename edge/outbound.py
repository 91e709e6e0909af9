"""Where a provider's base URL may lead: never to the machine itself, link-local
addresses or a cloud's metadata service (from where a tenant could read the edge's own
credentials), and to private networks only for providers the MSP runs or marked
on-premises (docs/gateway.md, "Outbound safety").

The control plane checks a base URL when it is saved (``controlplane.gateway``); the
edge checks every address again when it connects (``pool.GuardedBackend``), since a name
can resolve elsewhere by then (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata services that do not sit in link-local space.
_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in ("100.100.100.200", "fd00:ec2::254", "169.254.169.254", "169.254.170.2")
)
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in effect


def address_refusal(address: IpAddress, *, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback:  # before is_reserved, which ::1 also is
        return None if allow_private else "a loopback address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "an address no provider has"
    if address.is_private or address in _SHARED:
        return None if allow_private else "a private address"
    return None


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def name_refusal(host: str, *, allow_private: bool) -> str | None:
    """A refusal that the name alone decides (before any lookup)."""
    if host in METADATA_NAMES:
        return "a cloud metadata address"
    if host == "localhost" or host.endswith(".localhost"):
        return None if allow_private else "a loopback address"
    return None
