"""The injection decision: the rules first; when they leave a text undecided (below the
threshold) and the policy asks for it, the learned classifier
(docs/decisions/0018-content-filter-learned-stage.md)."""

from __future__ import annotations

from edge.gateway.content_filter import classifier
from edge.gateway.content_filter.findings import InjectionFinding
from edge.gateway.content_filter.injection import score_injection

# The classifier's bar: high on the user's turn (false positives there block real
# users), lower on untrusted content, where an order to the model is itself the attack.
CLASSIFIER_THRESHOLD = 0.9
CLASSIFIER_THRESHOLD_UNTRUSTED = 0.75


def decide_injection(
    text: str, *, threshold: float, untrusted: bool, use_classifier: bool
) -> InjectionFinding | None:
    finding = score_injection(text, untrusted=untrusted)
    if finding is not None and finding.score >= threshold:
        return finding
    if not use_classifier:
        return None
    probability = classifier.probability(text)
    bar = CLASSIFIER_THRESHOLD_UNTRUSTED if untrusted else CLASSIFIER_THRESHOLD
    if probability < bar:
        return None
    rules = f"; rules {finding.score:.2f}: {finding.reason}" if finding is not None else ""
    return InjectionFinding(
        score=round(probability, 4),
        reason=f"learned classifier p={probability:.2f}{rules}",
        rule="classifier",
    )
