"""The learned stage: a logistic regression over hashed character n-grams of the
normalised text, trained by bench/train_injection_classifier.py on the training split
of our own labelled set and shipped as ``classifier.npz`` (weights as float16). Pure
numpy, no download, loaded once on first use."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.gateway.content_filter.normalize import normalize

MODEL_PATH = Path(__file__).with_name("classifier.npz")
ORDERS = (3, 4, 5)
BITS = 17
_PRIMES = (1_000_003, 998_244_353)
_MAX_CHARS = 4000


def features(text: str) -> npt.NDArray[np.int64]:
    """The distinct hashed n-gram indexes of ``text`` (its words view, at most the first
    4000 characters, which is where injections sit in practice)."""
    words = normalize(text[:_MAX_CHARS]).words
    codes = np.frombuffer(words.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    mask = (1 << BITS) - 1
    found = []
    for order in ORDERS:
        if len(codes) < order:
            continue
        h = np.zeros(len(codes) - order + 1, dtype=np.int64)
        for k in range(order):
            h = (h * _PRIMES[0] + codes[k : len(codes) - order + 1 + k]) % _PRIMES[1]
        found.append((h * order + order) & mask)
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(found))


@cache
def _weights() -> tuple[npt.NDArray[np.float32], float]:
    with np.load(MODEL_PATH) as data:
        return data["weights"].astype(np.float32), float(data["bias"])


def logit(indexes: npt.NDArray[np.int64], weights: npt.NDArray[np.float32], bias: float) -> float:
    if len(indexes) == 0:
        return bias
    return float(weights[indexes].sum() / np.sqrt(len(indexes)) + bias)


def probability(text: str) -> float:
    weights, bias = _weights()
    z = logit(features(text), weights, bias)
    return float(1.0 / (1.0 + np.exp(-z)))
