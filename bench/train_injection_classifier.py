"""Trains the learned stage (edge/gateway/content_filter/classifier.npz): logistic
regression over hashed character n-grams, full-batch gradient descent in numpy, on the
``train`` split of tests/edge/gateway/data/filter_bench.jsonl plus the ``dev`` split of
filter_cases.jsonl. Deterministic; the held-out splits are never read.

    .venv/bin/python bench/train_injection_classifier.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.gateway.content_filter import classifier  # noqa: E402

DATA = ROOT / "tests/edge/gateway/data"


def training_set() -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for line in (DATA / "filter_bench.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["set"] == "injection" and case["split"] == "train":
            texts.append(case["text"])
            labels.append(float(case["injection"]))
    for line in (DATA / "filter_cases.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if case["split"] == "dev":
            texts.append(case["text"])
            labels.append(float(case["injection"]))
    return texts, np.array(labels)


def main() -> None:
    texts, y = training_set()
    rows = [classifier.features(text) for text in texts]
    size = 1 << classifier.BITS
    weights = np.zeros(size, dtype=np.float64)
    bias = 0.0
    scale = np.array([1 / np.sqrt(max(len(r), 1)) for r in rows])
    flat = np.concatenate(rows)
    owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    rate, l2 = 2.0, 1e-4
    for _ in range(400):
        z = np.bincount(owner, weights=weights[flat], minlength=len(rows)) * scale + bias
        p = 1 / (1 + np.exp(-z))
        error = (p - y) / len(rows)
        gradient = np.bincount(flat, weights=(error * scale)[owner], minlength=size)
        weights -= rate * (gradient + l2 * weights)
        bias -= rate * error.sum()
    accuracy = ((p >= 0.5) == (y == 1)).mean()
    np.savez_compressed(
        classifier.MODEL_PATH, weights=weights.astype(np.float16), bias=np.float64(bias)
    )
    size_kb = classifier.MODEL_PATH.stat().st_size / 1024
    print(f"{len(rows)} texts, training accuracy {accuracy:.3f}, {size_kb:.0f} KB")


if __name__ == "__main__":
    main()
