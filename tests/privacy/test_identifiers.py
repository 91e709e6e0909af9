"""One pattern per identifier finds and replaces the same text in Python (the edge),
PostgreSQL and ClickHouse; malformed identifiers are refused naming their kind."""

from __future__ import annotations

import pytest
from django.db import connection

from controlplane.analytics import get_store
from edge.identifiers import REPLACEMENT, IdentifierError, compiled, erase_text, parse_identifier

SAMPLES = [
    ("email", "Jane.Doe@example.com", "write to JANE.DOE@example.com.", True),
    ("email", "Jane.Doe@example.com", "cc jane.doe@example.com,jane.doe@example.com", True),
    ("email", "Jane.Doe@example.com", "mary.jane.doe@example.com", False),
    ("phone", "+44 20 7946 0958", "call 020 7946 0958 today", True),
    ("phone", "+44 20 7946 0958", "+44 (20) 7946-0958", True),
    ("phone", "+44 20 7946 0958", "0044 20 7946 0958", True),
    ("phone", "+44 20 7946 0958", "ref 12079460958", False),
    ("customer_id", "CUST-0042", "cust-0042 asked", True),
    ("customer_id", "CUST-0042", "CUST-00421 asked", False),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "value", "text", "found"), SAMPLES)
def test_the_three_engines_agree(kind: str, value: str, text: str, found: bool) -> None:
    identifier = parse_identifier(kind, value)
    pattern = identifier.pattern
    python = erase_text([identifier], text)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s ~ %s, regexp_replace(regexp_replace(%s, %s, %s, 'g'), %s, %s, 'g')",
            [text, pattern, text, pattern, REPLACEMENT, pattern, REPLACEMENT],
        )
        postgres_found, postgres = cursor.fetchone()
    [row] = get_store().query(
        "SELECT match({t:String}, {p:String}) AS found, replaceRegexpAll(replaceRegexpAll("
        "{t:String}, {p:String}, {r:String}), {p:String}, {r:String}) AS erased",
        {"t": text, "p": pattern, "r": REPLACEMENT},
    )

    assert (compiled(identifier).search(text) is not None) == postgres_found == bool(row["found"])
    assert bool(row["found"]) == found
    assert python == postgres == row["erased"]
    assert (value.lower() in python.lower()) == (not found and value.lower() in text.lower())


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("email", "jane", "email must be an email address"),
        ("phone", "555-0100", "phone must be a number in international form"),
        ("customer_id", "a b", "customer_id must be 4-100 letters"),
        ("name", "Jane", "kind must be one of email, phone, customer_id"),
    ],
)
def test_a_malformed_identifier_is_refused_naming_its_kind(
    kind: str, value: str, message: str
) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse_identifier(kind, value)
