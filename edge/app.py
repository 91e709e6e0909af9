"""HTTP routes of the edge node (docs/edge-protocol.md); the logic lives in the modules."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import edge
from edge import otlp, privacy
from edge.auth import AuthError, Principal, authenticate_agent, is_node_token
from edge.bodies import BodyTooLargeError, read_body
from edge.bundle import provider_key
from edge.collector import Collector, authenticate_collector, is_collector_key
from edge.config import ConfigError, ConfigStore, EdgeConfig, StaleConfigError
from edge.gateway import http as gateway_http
from edge.gateway.providers import ProviderClient
from edge.gateway.service import Gateway
from edge.host import host_stats, prime_cpu_percent
from edge.intake import Intake, intake
from edge.otlp_status import status_response
from edge.settings import Settings
from edge.spool import AckBeyondLastError, Spool, SpoolFullError, SpoolUnavailableError

logger = logging.getLogger("edge")

PULL_DEFAULT_LIMIT = 1000
PULL_MAX_LIMIT = 10000
# Bounds the memory of one pull response when bodies are large; the control plane
# simply pulls again.
PULL_MAX_BYTES = 32 << 20
ACK_MAX_BODY_BYTES = 4096
RETRY_AFTER_SECONDS = "30"
BODIES_MAX_IDS = 1000
BODIES_REQUEST_MAX_BYTES = 64 << 10
NANOS_PER_DAY = 86_400 * 10**9

_EMPTY_RESPONSE = {otlp.PROTOBUF: b"", otlp.JSON: b"{}"}

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class EdgeState:
    settings: Settings
    config: ConfigStore
    spool: Spool
    started_at: datetime
    started_monotonic: float


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return Response(
        orjson.dumps(body), status, headers=headers, media_type="application/problem+json"
    )


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


def _state(request: Request) -> EdgeState:
    state: EdgeState = request.app.state.edge
    return state


def _decode_records(
    body: bytes,
    media_type: str,
    encoding: str,
    limit: int,
    speaker: Principal | Collector,
    now: int,
    inspect: Callable[[dict[str, Any]], None] | None = None,
) -> Intake:
    request = otlp.decode_request(body, media_type, encoding, limit)
    return intake(request, speaker, now, inspect)


def _partial_success(taken: Intake, media_type: str) -> Response:
    """200 with the OTLP partial success: how many spans were refused, and why."""
    answer = ExportTraceServiceResponse()
    answer.partial_success.rejected_spans = taken.refused_spans
    answer.partial_success.error_message = taken.refusal()
    if media_type == otlp.PROTOBUF:
        return Response(answer.SerializeToString(), media_type=media_type)
    return Response(json_format.MessageToJson(answer, indent=None), media_type=otlp.JSON)


async def traces(request: Request) -> Response:
    declared = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    answer_as = otlp.PROTOBUF if declared == otlp.PROTOBUF else otlp.JSON
    try:
        return await _traces(request, declared, answer_as)
    except Exception:
        # A bug must still answer in OTLP's shape and keep the connection usable.
        logger.exception("/v1/traces failed")
        return status_response(500, "the edge failed on this request", answer_as)


async def _traces(request: Request, media_type: str, answer_as: str) -> Response:
    state = _state(request)
    headers = request.headers

    def refuse(status: int, message: str, extra: dict[str, str] | None = None) -> Response:
        return status_response(status, message, answer_as, extra)

    gateway: Gateway = request.app.state.gateway
    authorization = headers.get("authorization")
    config = state.config.current

    def authenticate() -> Principal | Collector:
        if is_collector_key(authorization):
            return authenticate_collector(config, authorization)
        return authenticate_agent(
            config,
            authorization,
            headers.get("x-acp-device-id"),
            headers.get("x-acp-device-key"),
        )

    try:
        speaker = gateway.auth_throttle.authenticate(
            request.client.host if request.client else "", authorization, authenticate
        )
    except AuthError as error:
        extra = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        if error.retry_after is not None:
            extra = {"Retry-After": str(error.retry_after)}
        return refuse(error.status, error.detail, extra)
    if media_type not in otlp.MEDIA_TYPES:
        return refuse(415, f"Content-Type must be {otlp.PROTOBUF} or {otlp.JSON}")
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in otlp.CONTENT_ENCODINGS:
        return refuse(415, "Content-Encoding must be gzip or absent")
    limit = state.settings.max_body_bytes
    received_at = time.time_ns()
    config = state.config.current
    inspect = None
    if config is not None and config.watch:
        tenant_id = speaker.tenant_id if isinstance(speaker, Principal) else speaker.key.tenant_id
        inspect = partial(gateway.watch.check_span, config.watch, tenant_id)
    try:
        body = await read_body(request, limit)
        taken = await run_in_threadpool(
            _decode_records, body, media_type, encoding, limit, speaker, received_at, inspect
        )
    except (BodyTooLargeError, otlp.BodyTooLargeError):
        return refuse(413, f"the body exceeds {limit} bytes")
    except otlp.OtlpError as error:
        return refuse(400, str(error))
    if taken.records:
        try:
            future = state.spool.append(taken.records, received_at, bodies=taken.bodies)
            await asyncio.wrap_future(future)
        except SpoolFullError as error:
            return refuse(503, str(error), {"Retry-After": RETRY_AFTER_SECONDS})
        except SpoolUnavailableError as error:
            logger.error("spool write failed: %s", error)
            return refuse(503, "the spool cannot write", {"Retry-After": RETRY_AFTER_SECONDS})
    if taken.refused_spans:
        return _partial_success(taken, media_type)
    return Response(_EMPTY_RESPONSE[media_type], media_type=media_type)


def node_only(handler: Handler) -> Handler:
    """Control-plane endpoints: the caller must hold the node token."""

    async def guarded(request: Request) -> Response:
        expected = _state(request).settings.node_token_sha256
        if not is_node_token(request.headers.get("authorization"), expected):
            return problem(401, "the node token is required", {"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return guarded


def _query_int(request: Request, name: str, default: int, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}")
    return int(raw)


@node_only
async def pull(request: Request) -> Response:
    try:
        after = _query_int(request, "after", 0, 0)
        limit = min(_query_int(request, "limit", PULL_DEFAULT_LIMIT, 1), PULL_MAX_LIMIT)
    except ValueError as error:
        return problem(400, str(error))
    rows = await run_in_threadpool(_state(request).spool.read, after, limit, PULL_MAX_BYTES)
    return Response(
        # One line per record, each ending in a newline, copied once.
        b"\n".join([*(body for _, body in rows), b""]),
        media_type="application/x-ndjson",
        headers={
            "X-ACP-Next-Cursor": str(rows[-1][0] if rows else after),
            "X-ACP-Count": str(len(rows)),
        },
    )


@node_only
async def ack(request: Request) -> Response:
    try:
        doc = orjson.loads(await read_body(request, ACK_MAX_BODY_BYTES))
    except (BodyTooLargeError, orjson.JSONDecodeError):
        return problem(400, 'the body must be {"cursor": <integer>}')
    cursor = doc.get("cursor") if isinstance(doc, dict) else None
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        return problem(400, "cursor must be a non-negative integer")
    state = _state(request)
    try:
        acked = await asyncio.wrap_future(state.spool.ack(cursor))
    except AckBeyondLastError as error:
        return problem(409, str(error))
    except SpoolUnavailableError as error:
        logger.error("spool ack failed: %s", error)
        return problem(503, "the spool cannot write", {"Retry-After": RETRY_AFTER_SECONDS})
    _prune_bodies(state.spool, state.config.current)
    return _json({"acked_cursor": acked})


def _prune_bodies(spool: Spool, config: EdgeConfig | None) -> None:
    """Forget kept bodies past their tenant's retention; runs behind, at every ack
    (every pull), so it needs no timer of its own."""
    if config is None or not config.residency:
        return
    now = time.time_ns()
    before = {
        tenant_id: now - residency.retention_days * NANOS_PER_DAY
        for tenant_id, residency in config.residency.items()
    }
    spool.prune_bodies(before).add_done_callback(_log_prune_failure)


def _log_prune_failure(future: Future[int]) -> None:
    if future.exception() is not None:
        logger.error("pruning kept bodies failed: %s", future.exception())


@node_only
async def bodies(request: Request) -> Response:
    """The bodies this edge keeps for residency tenants, by event id: what the trace
    explorer shows when a person with the right role opens a trace."""
    try:
        doc = orjson.loads(await read_body(request, BODIES_REQUEST_MAX_BYTES))
    except (BodyTooLargeError, orjson.JSONDecodeError):
        return problem(400, 'the body must be {"event_ids": ["<uuid>", …]}')
    ids = doc.get("event_ids") if isinstance(doc, dict) else None
    if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
        return problem(400, "event_ids must be an array of strings")
    if len(ids) > BODIES_MAX_IDS:
        return problem(400, f"event_ids may name at most {BODIES_MAX_IDS} events")
    kept = await run_in_threadpool(_state(request).spool.read_bodies, ids)
    found = {row.event_id for row in kept}
    return _json(
        {
            "bodies": [row._asdict() for row in kept],
            "missing": [event_id for event_id in ids if event_id not in found],
        }
    )


@node_only
async def heartbeat(request: Request) -> Response:
    state = _state(request)
    config = state.config.current
    spool = state.spool.stats
    return _json(
        {
            "node_id": config.node_id if config else None,
            "version": edge.__version__,
            "started_at": state.started_at.isoformat(),
            "uptime_seconds": round(time.monotonic() - state.started_monotonic, 3),
            "config_version": config.version if config else None,
            # What PUT /v1/config accepts now, so the control plane sends the right kind.
            "config_formats": ["acp-bundle-v1"]
            if state.settings.bundle_public_keys
            else ["acp-config-v1"],
            "spool": {
                "records": spool.records,
                "bytes": spool.bytes,
                "max_bytes": spool.max_bytes,
                "oldest_unpulled_unix_nano": spool.oldest_unpulled_unix_nano,
                "acked_cursor": spool.acked_cursor,
                "last_cursor": spool.last_cursor,
            },
            "bodies": {"records": spool.body_records, "bytes": spool.body_bytes},
            "host": await run_in_threadpool(host_stats, state.settings.data_dir),
        }
    )


@node_only
async def put_config(request: Request) -> Response:
    state = _state(request)
    try:
        body = await read_body(request, state.settings.max_body_bytes)
    except BodyTooLargeError:
        return problem(413, f"the body exceeds {state.settings.max_body_bytes} bytes")
    try:
        config = await run_in_threadpool(state.config.apply, body)
    except ConfigError as error:
        return problem(400, str(error))
    except StaleConfigError as error:
        return problem(409, str(error))
    logger.info("configuration version %s applied", config.version)
    return _json({"version": config.version})


@node_only
async def security_findings(request: Request) -> Response:
    """What the security fast path found since the last acknowledgement (edge/watch.py)."""
    gateway: Gateway = request.app.state.gateway
    findings, cursor = gateway.watch.pending()
    return _json({"findings": findings, "cursor": cursor})


@node_only
async def security_findings_ack(request: Request) -> Response:
    try:
        doc = orjson.loads(await read_body(request, ACK_MAX_BODY_BYTES))
    except (BodyTooLargeError, orjson.JSONDecodeError):
        return problem(400, 'the body must be {"cursor": <integer>}')
    cursor = doc.get("cursor") if isinstance(doc, dict) else None
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0:
        return problem(400, "cursor must be a non-negative integer")
    gateway: Gateway = request.app.state.gateway
    return _json({"pending": gateway.watch.ack(cursor)})


def _privacy_parts(request: Request) -> tuple[Spool, Any]:
    return _state(request).spool, request.app.state.gateway.cache


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = ConfigStore(
            settings.data_dir / "config.json",
            public_keys=settings.bundle_public_keys,
            secrets=provider_key(settings.node_token) if settings.node_token else None,
        )
        config.load()
        spool = Spool(settings.data_dir / "spool.sqlite3", settings.max_spool_bytes)
        providers = ProviderClient.create()
        prime_cpu_percent()
        app.state.edge = EdgeState(
            settings=settings,
            config=config,
            spool=spool,
            started_at=datetime.now(UTC),
            started_monotonic=time.monotonic(),
        )
        app.state.gateway = Gateway(settings, config, spool, providers)
        # A full collection walks every object alive (~12 ms for what is loaded at
        # start); frozen, those are skipped, which keeps such pauses out of requests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await providers.aclose()
            spool.close()

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/pull", pull, methods=["GET"]),
            Route("/v1/ack", ack, methods=["POST"]),
            Route("/v1/heartbeat", heartbeat, methods=["GET"]),
            Route("/v1/bodies", bodies, methods=["POST"]),
            Route("/v1/config", put_config, methods=["PUT"]),
            Route("/v1/security/findings", security_findings, methods=["GET"]),
            Route("/v1/security/findings/ack", security_findings_ack, methods=["POST"]),
            *privacy.routes(node_only, problem, _privacy_parts),
            *gateway_http.routes(),
        ],
        lifespan=lifespan,
    )
