"""Precision and recall of the content filter over the hand-labelled set
(tests/edge/gateway/data/filter_cases.jsonl, described in docs/content-filter.md).

PII is scored per kind on exact spans: a finding counts when a labelled item of the same
kind has exactly the same text in that case. Injection is scored per case (flagged or
not at the default threshold). The floors are what the detector reaches today minus a
small margin; the held-out splits (never tuned on) have their own, lower floors.
Nothing is written."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from edge.gateway.content_filter import ALL_PII_TYPES, scan

CASES = Path(__file__).parent / "data" / "filter_cases.jsonl"
KINDS = ("email", "phone", "card", "iban", "national_id")
HELD_OUT = ("heldout-1", "heldout-2", "heldout-3", "blind")

# Whole set (dev + held-out), measured P/R minus a margin. See docs/content-filter.md.
PII_FLOORS = {  # kind: (precision, recall)
    "email": (0.97, 0.97),
    "phone": (0.97, 0.95),
    "card": (0.97, 0.93),
    "iban": (0.97, 0.97),
    "national_id": (0.97, 0.97),
}
INJECTION_FLOOR = (0.97, 0.88)
# The batches written after tuning and never tuned on: what new phrasings get.
BLIND_INJECTION_FLOOR = (0.80, 0.25)
HELD_OUT_PII_FLOOR = (0.97, 0.90)


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@cache
def cases() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines())


@cache
def predictions() -> tuple[tuple[bool, Counter[tuple[str, str]]], ...]:
    out = []
    for case in cases():
        # This set labels the five original kinds only (docs/content-filter.md); network
        # identifiers and secrets are scored on the newer set (test_filter_benchmark.py).
        result = scan(case["text"], pii_types=KINDS)
        out.append((result.injection is not None, Counter((f.kind, f.text) for f in result.pii)))
    return tuple(out)


def measure(splits: Iterable[str] | None = None) -> tuple[dict[str, Score], Score]:
    wanted = None if splits is None else set(splits)
    pii = {kind: Score() for kind in KINDS}
    injection = Score()
    for case, (flagged, found) in zip(cases(), predictions(), strict=True):
        if wanted is not None and case["split"] not in wanted:
            continue
        gold = Counter((item["kind"], item["text"]) for item in case["pii"])
        for key in gold.keys() | found.keys():
            hit = min(gold[key], found[key])
            score = pii[key[0]]
            score.tp += hit
            score.fp += found[key] - hit
            score.fn += gold[key] - hit
        if flagged and case["injection"]:
            injection.tp += 1
        elif flagged:
            injection.fp += 1
        elif case["injection"]:
            injection.fn += 1
    return pii, injection


def test_the_labelled_set_is_well_formed() -> None:
    all_cases = cases()
    assert len(all_cases) >= 300
    assert len({c["text"] for c in all_cases}) == len(all_cases)
    for case in all_cases:
        assert set(case) == {"text", "injection", "pii", "split"}
        assert isinstance(case["injection"], bool)
        for item in case["pii"]:
            assert item["kind"] in ALL_PII_TYPES
            assert item["text"] in case["text"]
    counts = Counter(item["kind"] for c in all_cases for item in c["pii"])
    assert all(counts[kind] >= 25 for kind in KINDS), counts
    positives = sum(c["injection"] for c in all_cases)
    assert positives >= 100 and len(all_cases) - positives >= 200


@pytest.mark.parametrize("kind", KINDS)
def test_pii_precision_and_recall(kind: str) -> None:
    pii, _ = measure()
    floor_p, floor_r = PII_FLOORS[kind]
    score = pii[kind]
    assert score.precision >= floor_p, (kind, score)
    assert score.recall >= floor_r, (kind, score)


def test_injection_precision_and_recall() -> None:
    _, injection = measure()
    assert injection.precision >= INJECTION_FLOOR[0], injection
    assert injection.recall >= INJECTION_FLOOR[1], injection


def test_held_out_splits() -> None:
    pii, _ = measure(HELD_OUT)
    total = Score(
        tp=sum(s.tp for s in pii.values()),
        fp=sum(s.fp for s in pii.values()),
        fn=sum(s.fn for s in pii.values()),
    )
    assert total.precision >= HELD_OUT_PII_FLOOR[0], total
    assert total.recall >= HELD_OUT_PII_FLOOR[1], total
    _, blind = measure(["blind"])
    assert blind.precision >= BLIND_INJECTION_FLOOR[0], blind
    assert blind.recall >= BLIND_INJECTION_FLOOR[1], blind
