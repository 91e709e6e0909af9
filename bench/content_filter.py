# ruff: noqa: E501 -- report lines
"""Content filter benchmark: precision/recall/F1 on our labelled set
(tests/edge/gateway/data/filter_bench.jsonl, written by make_filter_bench.py), per
family, channel and language, for rules only and rules + the learned classifier, and
the latency each stage adds.

    .venv/bin/python bench/content_filter.py [--split heldout|train|all] [--classifier] [--runs 5]

The quality figures are the same at every run (the filter is deterministic) and are
printed once; the latency per text is measured ``--runs`` times and reported through
bench/harness.py (median, spread, CPU per text, load, commit).
tests/edge/gateway/test_filter_benchmark.py asserts the goals on the held-out split.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from edge.gateway.content_filter import ALL_PII_TYPES, classifier, scan

DATA = Path(__file__).resolve().parent.parent / "tests/edge/gateway/data/filter_bench.jsonl"


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def fp_rate(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


def load(split: str = "all") -> list[dict[str, Any]]:
    cases = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    return [c for c in cases if split == "all" or c["split"] == split]


@dataclass
class InjectionReport:
    overall: Counts
    by: dict[str, dict[str, Counts]]
    """``family``/``channel``/``language`` -> value -> counts (negatives count under
    their own category as family)."""


def score_injection(cases: list[dict[str, Any]], *, use_classifier: bool) -> InjectionReport:
    overall = Counts()
    by: dict[str, dict[str, Counts]] = {
        k: defaultdict(Counts) for k in ("family", "channel", "language")
    }
    for case in cases:
        if case["set"] != "injection":
            continue
        flagged = (
            scan(
                case["text"], pii_types=(), source=case["channel"], use_classifier=use_classifier
            ).injection
            is not None
        )
        targets = [overall] + [by[key][case[key]] for key in by]
        for counts in targets:
            if case["injection"]:
                counts.tp += flagged
                counts.fn += not flagged
            else:
                counts.fp += flagged
                counts.tn += not flagged
    return InjectionReport(overall, {k: dict(v) for k, v in by.items()})


def score_pii(cases: list[dict[str, Any]]) -> tuple[Counts, dict[str, Counts]]:
    """Exact spans; per type (``national_id:us_ssn`` … where the kind has subtypes)."""
    micro = Counts()
    per: dict[str, Counts] = defaultdict(Counts)
    for case in cases:
        if case["set"] != "pii":
            continue
        found = {
            (f.kind, f.text)
            for f in scan(case["text"], pii_types=ALL_PII_TYPES, injection=False).pii
        }
        subtypes = {(f.kind, f.text): f.subtype for f in scan(case["text"], injection=False).pii}
        gold = {(item["kind"], item["text"]): item["subtype"] for item in case["pii"]}
        for key, subtype in gold.items():
            name = f"{key[0]}:{subtype}" if subtype and key[0] != "secret" else key[0]
            hit = key in found and (key[0] == "secret" or subtypes.get(key, "") == subtype)
            for counts in (micro, per[name]):
                counts.tp += hit
                counts.fn += not hit
        for key in found - gold.keys():
            micro.fp += 1
            per[key[0]].fp += 1
    return micro, dict(per)


def _line(name: str, c: Counts) -> str:
    return f"  {name:<28} P {c.precision:.3f}  R {c.recall:.3f}  F1 {c.f1:.3f}  (tp {c.tp} fp {c.fp} fn {c.fn} tn {c.tn})"


def _latency(texts: list[str], *, use_classifier: bool) -> tuple[float, float]:
    samples = []
    for text in texts:
        started = time.perf_counter()
        scan(text, pii_types=(), source="tool_result", use_classifier=use_classifier)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    harness.add_arguments(parser)
    parser.add_argument("--split", default="heldout", choices=("heldout", "train", "all"))
    parser.add_argument("--classifier", action="store_true", help="rules + learned stage")
    args = parser.parse_args()
    context = harness.start()
    cases = load(args.split)
    report = score_injection(cases, use_classifier=args.classifier)
    stage = "rules + classifier" if args.classifier else "rules only"
    print(f"injection, split {args.split}, {stage}:")
    print(_line("overall", report.overall) + f"  FP rate {report.overall.fp_rate:.3f}")
    for key, groups in report.by.items():
        print(f" by {key}:")
        for value in sorted(groups):
            print(_line(value, groups[value]))
    micro, per = score_pii(cases)
    print(f"PII, split {args.split}:")
    print(_line("micro", micro))
    for name in sorted(per):
        print(_line(name, per[name]))
    texts = [c["text"] for c in cases if c["set"] == "injection"]
    # Ten passes a run: CPU time is counted in 10 ms ticks, a pass over the held-out
    # texts takes ~50 ms.
    runs = harness.repeat(lambda _run: latency_figures(texts * 10), runs=args.runs)
    context.notes.append(
        f"{len(texts):,} injection texts of split {args.split}, each scanned ten times a run, "
        "one at a time."
    )
    harness.report("Content filter, latency per text", runs, context=context, json_path=args.json)


def latency_figures(texts: list[str]) -> harness.Figures:
    """Each stage's p50 and p99 per text and its CPU per text; the classifier alone."""
    figures: harness.Figures = {}
    for use in (False, True):
        stage = "rules + classifier" if use else "rules only"
        with harness.CpuClock() as cpu:
            p50, p99 = _latency(texts, use_classifier=use)
        figures[f"{stage} p50_us"] = p50
        figures[f"{stage} p99_us"] = p99
        figures[f"{stage} cpu_us_per_text"] = cpu.seconds * 1e6 / len(texts)
    with harness.CpuClock() as cpu:
        for text in texts:
            classifier.probability(text)
    figures["classifier alone cpu_us_per_text"] = cpu.seconds * 1e6 / len(texts)
    return figures


if __name__ == "__main__":
    main()
