"""The compliance app's models: data-flow snapshots, the control catalog, test runs,
hash-chained evidence, exceptions and access reviews."""

from compliance.models.controls import (
    AccessReview,
    Category,
    Control,
    ControlException,
    ControlTest,
    Scope,
    TestRun,
)
from compliance.models.dataflow import DataFlowSnapshot
from compliance.models.evidence import EvidenceChainHead, EvidenceRecord, EvidenceStaleNotice
from compliance.models.packages import EvidencePackage

__all__ = [
    "AccessReview",
    "Category",
    "Control",
    "ControlException",
    "ControlTest",
    "DataFlowSnapshot",
    "EvidenceChainHead",
    "EvidencePackage",
    "EvidenceRecord",
    "EvidenceStaleNotice",
    "Scope",
    "TestRun",
]
