"""An evidence record as the JSON document people download and the API serves: every
field its hash covers, its hash and the population, so it can be checked on its own (an
erased record's rewritten parts with the digests they had, decision 0045)."""

from __future__ import annotations

from typing import Any

from compliance.evidence import json_safe
from compliance.models import EvidenceRecord


def evidence_document(record: EvidenceRecord) -> dict[str, Any]:
    return json_safe(
        {
            "id": record.pk,
            "tenant_id": record.tenant_id,
            "seq": record.seq,
            "control_id": record.control_id,
            "control_test_id": record.control_test_id,
            "test_run_id": record.test_run_id,
            "control_code": record.control_code,
            "test_key": record.test_key,
            "test_version": record.test_version,
            "catalog_version": record.catalog_version,
            "recorded_at": record.recorded_at,
            "period_start": record.period_start,
            "period_end": record.period_end,
            "valid_until": record.valid_until,
            "result": record.result,
            "summary": record.summary,
            "query_text": record.query_text,
            "query_params": record.query_params,
            "population_count": record.population_count,
            "failing_count": record.failing_count,
            "failing_entities": record.failing_entities,
            "metrics": record.metrics,
            "data_sha256": record.data_sha256,
            "exception_id": record.exception_id,
            "format_version": record.format_version,
            "personal_sha256": record.personal_sha256,
            "erasure": record.erasure,
            "prev_hash": record.prev_hash,
            "hash": record.hash,
            "population": record.population,
        }
    )
