"""Network identifiers: IPv4 and IPv6 addresses, MAC addresses.

An address is PII in a log line, a config or a ticket; a dotted run of small numbers is
often something else. Guards: a version word before it (``v``, *version*, *release*,
*build*, a package name with ``==``/``@``), a section sign or word (§ 1.2.3.4), an OID
(more than four components, or *OID* / ``1.3.6.1`` prefixes), and four single-digit parts
with no network word nearby (``1.2.3.4`` is more often a version than an address).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from edge.gateway.content_filter.findings import PiiFinding
from edge.gateway.content_filter.pii.common import make_finding

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(r"(?<![\w.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::?[0-9A-Fa-f]{1,4}){1,7})"
    r"(?:%[\w.]+)?(?![\w:]|\.\w)"
)
_MAC = re.compile(
    r"(?<![\w:\-.])(?:[0-9A-Fa-f]{2}([:\-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:\-]|\.\w)"
)
_VERSION_BEFORE = re.compile(
    r"(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\bfirmware|\bkernel|\bpatch|\bupgrade[ds]? to"
    r"|\bupdate[ds]? to|\bbump(?:ed)? to|\bpython|\bnode|\bjava|\bchrome|\bfirefox|\bios"
    r"|\bandroid|\bwindows|\bmacos|\bubuntu|\bdebian|\bsdk|\bapi|==|>=|<=|~=|\^|@|\bnpm"
    r"|\bpip|\bversie|\bversión|\bnumber|\bnummer|\bv\.|\bversion \S+ (?:to|->))\s*[:=]?\s*$",
    re.IGNORECASE,
)
_SECTION_BEFORE = re.compile(
    r"(?:§|\bsection|\bsec\.|\bclause|\bchapter|\bparagraph|\bart\.|\barticle|\babschnitt"
    r"|\bziffer|\bkapitel|\bartikel|\bpara\.?|\bitem|\bstep|\brule|\bfigure|\bfig\.|\btable"
    r"|\brfc \d+|\biso)\s*$",
    re.IGNORECASE,
)
_OID_BEFORE = re.compile(r"\b(?:oid|object identifier|urn:oid:)\s*[:=]?\s*$", re.IGNORECASE)
_NETWORK_WORDS = re.compile(
    r"\b(?:ip|ips|ipv4|addr|address|host|hostname|server|dns|gateway|subnet|cidr|ping|"
    r"connect|connected|connection|from|to|src|dst|source|destination|client|remote|peer|"
    r"proxy|firewall|route|resolver|nameserver|listen|bind|inet|adresse|adres|dirección)\b",
    re.IGNORECASE,
)


def _looks_like_version(text: str, start: int, end: int, raw: str) -> bool:
    before = text[max(0, start - 24) : start]
    if _VERSION_BEFORE.search(before) or _SECTION_BEFORE.search(before):
        return True
    if _OID_BEFORE.search(before) or raw.startswith(("1.3.6.1", "2.5.4", "2.16.840")):
        return True
    if all(len(part) == 1 for part in raw.split(".")):
        window = text[max(0, start - 40) : min(len(text), end + 20)]
        return not _NETWORK_WORDS.search(window)
    return False


def find_ip_addresses(text: str) -> Iterator[PiiFinding]:
    if "." in text:
        for m in _IPV4.finditer(text):
            if not _looks_like_version(text, m.start(), m.end(), m.group()):
                yield make_finding("ip_address", text, m.start(), m.end(), "ipv4")
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            raw = m.group()
            groups = [g for g in raw.split("%")[0].split(":") if g]
            if len(groups) < 2 or not any(ch.isdigit() for ch in raw):
                continue  # "std::vector", "a::b": code, not an address
            try:
                ipaddress.IPv6Address(raw.split("%")[0])
            except ValueError:
                continue
            if _MAC.fullmatch(raw):
                continue
            yield make_finding("ip_address", text, m.start(), m.end(), "ipv6")


def find_mac_addresses(text: str) -> Iterator[PiiFinding]:
    for m in _MAC.finditer(text):
        digits = re.sub(r"[:\-.]", "", m.group())
        if len(set(digits.lower())) > 1:  # 00:00:00:00:00:00 / ff:ff:…: not a device
            yield make_finding("mac_address", text, m.start(), m.end())
