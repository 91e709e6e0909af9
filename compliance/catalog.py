"""The control catalog: ``compliance/catalog/tsc2017.yaml``, written for this project and
mapped to the AICPA 2017 Trust Services Criteria, loaded into ``Control`` and
``ControlTest`` rows.

The file names each control's criterion, category, owner, evidence validity and tests
(registry keys of ``compliance.checks``); a test's version and scope come from the
registry, so the code that runs and the version evidence records carry cannot disagree.
``catalog_sync`` is idempotent: it updates what changed and marks what the file no
longer lists inactive (rows stay: evidence points at them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from compliance.checks import registry
from compliance.models import Category, Control, ControlTest

CATALOG_PATH = Path(__file__).resolve().parent / "catalog" / "tsc2017.yaml"
FAMILIES = ("CC6", "CC7", "CC8", "A1", "PI1", "C1", "P")
LINKS = ("traces", "alerts", "audit", "dataflow", "dashboards", "agents", "gateway", "sites")


@dataclass(frozen=True)
class TestSpec:
    __test__ = False  # not a pytest class

    key: str
    title: str
    period_days: int


@dataclass(frozen=True)
class ControlSpec:
    code: str
    criterion: str
    family: str
    category: str
    title: str
    description: str
    owner_email: str
    validity_days: int
    links: tuple[str, ...]
    tests: tuple[TestSpec, ...]


@dataclass(frozen=True)
class Catalog:
    version: str
    controls: tuple[ControlSpec, ...]


def _text(entry: dict[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = entry.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}.{name}: give a non-empty text")
    return value.strip()


def _days(entry: dict[str, Any], name: str, where: str, default: int) -> int:
    value = entry.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 400:
        raise ValidationError(f"{where}.{name}: give a whole number of days, 1 to 400")
    return value


def _test(entry: Any, where: str, known: set[str]) -> TestSpec:
    if not isinstance(entry, dict):
        raise ValidationError(f"{where}: give a mapping with key and title")
    key = _text(entry, "key", where)
    if key not in known:
        raise ValidationError(f"{where}.key: no test {key!r} in compliance.checks")
    return TestSpec(
        key=key,
        title=_text(entry, "title", where),
        period_days=_days(entry, "period_days", where, 7),
    )


def _control(entry: Any, where: str, owner: str, known: set[str]) -> ControlSpec:
    if not isinstance(entry, dict):
        raise ValidationError(f"{where}: give a mapping")
    family = _text(entry, "family", where)
    if family not in FAMILIES:
        raise ValidationError(f"{where}.family: one of {', '.join(FAMILIES)}")
    category = _text(entry, "category", where)
    if category not in Category.values:
        raise ValidationError(f"{where}.category: one of {', '.join(Category.values)}")
    owner_email = _text(entry, "owner_email", where, owner)
    try:
        validate_email(owner_email)
    except ValidationError:
        raise ValidationError(f"{where}.owner_email: not an email address") from None
    links = entry.get("links", [])
    if not isinstance(links, list) or any(link not in LINKS for link in links):
        raise ValidationError(f"{where}.links: a list of {', '.join(LINKS)}")
    tests = entry.get("tests")
    if not isinstance(tests, list) or not tests:
        raise ValidationError(f"{where}.tests: give at least one test")
    return ControlSpec(
        code=_text(entry, "code", where),
        criterion=_text(entry, "criterion", where),
        family=family,
        category=category,
        title=_text(entry, "title", where),
        description=str(entry.get("description", "")).strip(),
        owner_email=owner_email,
        validity_days=_days(entry, "validity_days", where, 7),
        links=tuple(links),
        tests=tuple(_test(t, f"{where}.tests[{i}]", known) for i, t in enumerate(tests)),
    )


def catalog_parse(text: str) -> Catalog:
    """The catalog in ``text``; ValidationError naming the entry and field otherwise."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError(f"not YAML: {error}") from None
    if not isinstance(document, dict):
        raise ValidationError("the catalog must be a mapping with version and controls")
    version = str(document.get("version", "")).strip()
    if not version:
        raise ValidationError("version: give the catalog's version")
    owner = _text(document, "owner_email", "catalog")
    entries = document.get("controls")
    if not isinstance(entries, list) or not entries:
        raise ValidationError("controls: give at least one control")
    known = set(registry())
    controls = tuple(
        _control(entry, f"controls[{i}]", owner, known) for i, entry in enumerate(entries)
    )
    codes = [c.code for c in controls]
    duplicate = next((c for c in codes if codes.count(c) > 1), None)
    if duplicate:
        raise ValidationError(f"controls: the code {duplicate!r} is used twice")
    return Catalog(version=version, controls=controls)


def catalog_load(path: Path = CATALOG_PATH) -> Catalog:
    return catalog_parse(path.read_text(encoding="utf-8"))


@transaction.atomic
def catalog_sync(*, catalog: Catalog | None = None) -> list[Control]:
    """Make the ``Control`` and ``ControlTest`` rows what the catalog says."""
    catalog = catalog or catalog_load()
    checks = registry()
    controls = []
    for spec in catalog.controls:
        control, _ = Control.objects.update_or_create(
            code=spec.code,
            defaults={
                "criterion": spec.criterion,
                "family": spec.family,
                "category": spec.category,
                "title": spec.title,
                "description": spec.description,
                "owner_email": spec.owner_email,
                "validity_days": spec.validity_days,
                "catalog_version": catalog.version,
                "links": list(spec.links),
                "active": True,
            },
        )
        for test in spec.tests:
            found = checks[test.key]
            ControlTest.objects.update_or_create(
                control=control,
                key=test.key,
                defaults={
                    "title": test.title,
                    "version": found.version,
                    "scope": found.scope,
                    "period_days": test.period_days,
                    "active": True,
                },
            )
        ControlTest.objects.filter(control=control).exclude(
            key__in=[t.key for t in spec.tests]
        ).update(active=False)
        controls.append(control)
    Control.objects.exclude(code__in=[c.code for c in catalog.controls]).update(active=False)
    ControlTest.objects.filter(control__active=False).update(active=False)
    return controls
