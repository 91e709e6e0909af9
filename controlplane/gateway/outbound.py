"""A provider's base URL, refused when it leads where no provider may be (the rules
are the edge's own, ``edge.outbound``, so both sides agree).

Checked when a provider is saved, on the addresses its host resolves to now; a name
that does not resolve here is accepted (the control plane need not see the customer's
network), because the edge checks every address again when it connects.
"""

from __future__ import annotations

import ipaddress
import socket

from django.core.exceptions import ValidationError

from edge import outbound

_HINT = {
    "a loopback address": " Only MSP staff can allow it, by marking the provider on-premises.",
    "a private address": " Only MSP staff can allow it, by marking the provider on-premises.",
}


def _resolved(host: str) -> list[outbound.IpAddress]:
    literal = outbound.literal_address(host.strip("[]"))
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


def check_base_url(url: str, *, allow_private: bool) -> None:
    """ValidationError on ``base_url`` when ``url``'s host is, or resolves to, an
    address a provider may not have."""
    host = outbound.host_of(url)
    refusal = outbound.name_refusal(host, allow_private=allow_private)
    shown = host
    if refusal is None:
        for address in _resolved(host):
            refusal = outbound.address_refusal(address, allow_private=allow_private)
            if refusal is not None:
                shown = host if str(address) == host.strip("[]") else f"{host} ({address})"
                break
    if refusal is not None:
        raise ValidationError(
            {"base_url": f"The base URL leads to {shown}, {refusal}.{_HINT.get(refusal, '')}"}
        )
