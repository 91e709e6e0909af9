"""Shared PII helpers: overlap resolution and the reference-label guard."""

from __future__ import annotations

import bisect
import re

from edge.gateway.content_filter.findings import PRIORITY, PiiFinding


def resolve_overlaps(found: list[PiiFinding]) -> list[PiiFinding]:
    """Keep the most specific finding where findings overlap (by kind priority, then
    length). ``starts``/``kept`` stay sorted by start, so each check is a bisection."""
    ranked = sorted(found, key=lambda f: (PRIORITY[f.kind], -(f.end - f.start), f.start))
    starts: list[int] = []
    kept: list[PiiFinding] = []
    for f in ranked:
        i = bisect.bisect_left(starts, f.start)
        if i > 0 and kept[i - 1].end > f.start:
            continue  # overlaps the kept finding that starts before it
        if i < len(kept) and kept[i].start < f.end:
            continue  # overlaps the kept finding that starts at or after it
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


def make_finding(kind: str, text: str, start: int, end: int, subtype: str = "") -> PiiFinding:
    return PiiFinding(kind=kind, start=start, end=end, text=text[start:end], subtype=subtype)


# Words that, right before a number, say it is a business reference and not PII.
_REF_SUFFIX = r"(?:\s*(?:no|nr|num|number|nummer|numero|número|n°|nº|id|#|code))"
# Words that make the next number a reference on their own ("Order 4155552671") ...
_REF_WORDS = (
    r"order|orders|invoice|inv|ticket|case|incident|tracking|shipment|parcel|consignment|"
    r"waybill|awb|ref|reference|po|sku|part|serial|s/n|sn|batch|lot|build|version|ver|"
    r"release|txn|trx|booking|reservation|confirmation|receipt|quote|issue|pr|bug|uuid|"
    r"(?<!caller )id|auftrag|auftragsnummer|bestellung|bestellnummer|bestellnr|rechnung|"
    r"rechnungsnummer|rechnungsnr|kundennummer|kundennr|sendungsnummer|vorgangsnummer|"
    r"aktenzeichen|commande|facture|colis|pedido|factura|albaran|envio|referencia|"
    r"expediente|bestelling|bestelnummer|factuur|factuurnummer|zending|klantnummer|"
    r"dossiernummer"
)
# ... and words that do with a "no."/"number"/"ID" after them ("Customer ID 4155552671";
# "dossier" alone is just "file" in French).
_REF_WORDS_WITH_SUFFIX = (
    r"customer|cust|client|member|account|acct|policy|claim|contract|transaction|payment|"
    r"item|article|product|model|package|job|run|request|req|employee|vendor|supplier|"
    r"kunde|kunden|mitglieds|vertrags|cliente|socio|lid|klant|dossier"
)
_REFERENCE_BEFORE = re.compile(
    r"(?:\b(?:" + _REF_WORDS + r")" + _REF_SUFFIX + r"?"
    r"|\b(?:" + _REF_WORDS_WITH_SUFFIX + r")" + _REF_SUFFIX + r"|\bn[°º]|#)\s*[.:#=]?\s*$",
    re.IGNORECASE,
)


def preceded_by_reference(text: str, start: int) -> bool:
    return bool(_REFERENCE_BEFORE.search(text[max(0, start - 40) : start]))
