"""Webhook inbox services: receive (verify, parse, store) and the rejection counters.

`webhook_receive` runs in the request; it does at most one INSERT on the happy path and never raises.
Processing lives in `processing.py`, maintenance (requeue, spool drain, pruning) in `maintenance.py`.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ghl_integration.models import WebhookEvent, WebhookRejection

from .doorbell import webhook_inbox_drain_request, webhook_inbox_drain_request_soon
from .group_commit import GroupCommit, PendingRow
from .parsing import EventMeta, clean_text, event_meta_of
from .signature import ED25519_HEADER, RSA_HEADER, verify_signature
from .spool import spool_write

logger = logging.getLogger(__name__)

# Request headers kept with the event (lower-case names).
HEADERS_OF_INTEREST = ("content-type", "user-agent", ED25519_HEADER, RSA_HEADER, "x-request-id", "x-forwarded-for")
MAX_HEADER_VALUE_LENGTH = 2048


class InvalidPayload(ValueError):
    """The body is not a JSON object."""


@dataclass(frozen=True)
class ReceiveResult:
    status_code: int
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StoreOutcome:
    event_id: int | None
    duplicate: bool


# Where each of them is in a WSGI environ (`request.META`).
_ENVIRON_KEYS = tuple(
    (name, "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_"))
    for name in HEADERS_OF_INTEREST
)


def webhook_headers_of(environ) -> dict:
    """The request headers the inbox reads (the signatures and those it keeps), by lower-case name, from a WSGI
    environ: what `request.headers` would give for them, without building the whole mapping."""
    return {name: environ[key] for name, key in _ENVIRON_KEYS if key in environ}


def interesting_headers(headers) -> dict:
    """The headers worth keeping, cleaned for a JSON column; `headers` is read by lower-case name
    (`webhook_headers_of`, or a case-insensitive `request.headers`)."""
    kept = {}
    for name in HEADERS_OF_INTEREST:
        value = headers.get(name)
        if isinstance(value, str) and value:
            kept[name] = clean_text(value, MAX_HEADER_VALUE_LENGTH)
    return kept


def webhook_rejection_count(*, reason: str) -> None:
    """Count one refused delivery for the admin; failures to count are logged, never raised."""
    now = timezone.now()
    try:
        updated = WebhookRejection.objects.filter(day=now.date(), reason=reason).update(
            count=F("count") + 1, last_seen_at=now
        )
        if not updated:
            try:
                with transaction.atomic():
                    WebhookRejection.objects.create(day=now.date(), reason=reason, count=1, last_seen_at=now)
            except IntegrityError:  # another request created today's row first
                WebhookRejection.objects.filter(day=now.date(), reason=reason).update(
                    count=F("count") + 1, last_seen_at=now
                )
    except DatabaseError:
        logger.warning("ghl.webhook.rejection-not-counted", extra={"reason": reason}, exc_info=True)


def webhook_payload_parse(body: bytes) -> dict:
    """The body as a JSON object; raises InvalidPayload otherwise."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidPayload("invalid-json") from exc
    if not isinstance(payload, dict):
        raise InvalidPayload("not-an-object")
    return payload


def timestamp_problem(delivered_at: datetime | None, *, now: datetime) -> str | None:
    """Why GHL's `timestamp` is refused, or None. A missing timestamp is accepted (dedup still applies)."""
    if delivered_at is None:
        return None
    if now - delivered_at > timedelta(seconds=settings.GHL_WEBHOOK_REPLAY_WINDOW_SECONDS):
        return "stale-timestamp"
    if delivered_at - now > timedelta(seconds=settings.GHL_WEBHOOK_FUTURE_SKEW_SECONDS):
        return "future-timestamp"
    return None


def webhook_event_enqueue(*, event_id: int, countdown: float | None = None) -> None:
    """Queue processing of one event (a retry, a requeued claim); call inside the transaction that wrote the
    row (it runs on commit). New events are not queued one by one: they ring the drain (doorbell.py)."""
    from .tasks import process_webhook_event_task  # tasks import services: keep the cycle lazy

    def send() -> None:
        try:
            process_webhook_event_task.apply_async((event_id,), countdown=countdown)
        except Exception as exc:  # broker down: the row is safe, the requeue task picks it up later
            logger.warning("ghl.webhook.enqueue-failed",
                           extra={"event_id": event_id, "error": f"{type(exc).__name__}: {exc}"})

    transaction.on_commit(send)


_INSERT_COLUMNS = (
    "dedup_key",
    "webhook_id",
    "event_type",
    "location_id",
    "company_id",
    "delivered_at",
    "received_at",
    "queued_at",
    "body",
    "headers",
    "signature_algorithm",
    "status",
    "attempts",
    "last_error",
)


@lru_cache(maxsize=128)
def _insert_sql(rows: int = 1) -> str:
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _INSERT_COLUMNS)
    values = ", ".join(["(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"] * rows)
    # PostgreSQL and SQLite (>= 3.35) both support ON CONFLICT … DO NOTHING RETURNING, also for several rows
    # (a key twice in one statement stores the first and skips the second, as DO NOTHING never updates).
    # Only model metadata is interpolated; every value is a bound parameter.
    return (
        f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key"
    )


def _row_params(*, body: bytes, meta: EventMeta, headers: dict, signature_algorithm: str, received_at: datetime):
    adapt = connection.ops.adapt_datetimefield_value
    received = adapt(received_at)
    return (
        meta.dedup_key,
        meta.webhook_id,
        meta.event_type,
        meta.location_id,
        meta.company_id,
        adapt(meta.delivered_at),
        received,
        received,
        body.decode("utf-8"),
        json.dumps(headers),
        signature_algorithm,
        WebhookEvent.Status.RECEIVED,
        0,
        "",
    )


def _insert_rows(rows: list[PendingRow]) -> list[tuple[int, str]]:
    params = [value for row in rows for value in row.params]
    sql = _insert_sql(len(rows))
    if _direct_cursor_applies():
        return _insert_direct(sql, params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _direct_cursor_applies() -> bool:
    """The group commit's statement goes straight to psycopg when nothing else needs to see it.

    Django's cursor binds parameters on the client (the whole body is quoted into the SQL text in Python) and
    wraps the call in several layers; for the one statement of an acknowledgement that was a measurable share of
    its CPU (bench/webhook_burst.py). So in autocommit on PostgreSQL the statement is sent with server-side
    binding on the thread's own Django connection, its errors translated by Django's wrapper as any query's are.
    Inside a transaction, with execute wrappers installed (instrumentation, tests injecting failures) or with
    queries logged (DEBUG, `assertNumQueries`), Django's cursor is used, so they see it as before.
    """
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not connection.execute_wrappers
        and not connection.queries_logged
    )


def _insert_direct(sql: str, params: list) -> list[tuple[int, str]]:
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


#: This process's group commit: concurrent requests share one INSERT and one doorbell ring (group_commit.py).
INBOX_GROUP = GroupCommit()


def webhook_event_store(
    *, body: bytes, meta: EventMeta, headers: dict, signature_algorithm: str, received_at: datetime
) -> StoreOutcome:
    """Store one event; a duplicate dedup key is reported, not raised. Database trouble raises DatabaseError.

    Raw SQL on the hot path: `INSERT … ON CONFLICT (dedup_key) DO NOTHING RETURNING` is one statement (no
    savepoint, no exception for a duplicate) and, in autocommit, commits by itself before the 200 is sent. In
    autocommit (a request) the row goes through the process's group commit, so requests arriving together share
    the statement and the drain's ring; inside a transaction it is written alone and rings when that commits.
    """
    row = PendingRow(
        params=_row_params(
            body=body, meta=meta, headers=headers, signature_algorithm=signature_algorithm, received_at=received_at
        ),
        dedup_key=meta.dedup_key,
    )
    if connection.in_atomic_block:
        _apply_alone(row)
    else:
        INBOX_GROUP.store(row, insert_many=_insert_rows, after_insert=webhook_inbox_drain_request_soon)
    if row.duplicate:
        # The unique dedup key refused the row: GHL delivered this event before. Acknowledge, don't process.
        logger.info(
            "ghl.webhook.duplicate",
            extra={"webhook_id": meta.webhook_id, "dedup_key": meta.dedup_key, "event_type": meta.event_type},
        )
        return StoreOutcome(event_id=None, duplicate=True)
    return StoreOutcome(event_id=row.event_id, duplicate=False)


def _apply_alone(row: PendingRow) -> None:
    returned = _insert_rows([row])
    row.done = True
    row.event_id = returned[0][0] if returned else None
    if row.event_id is not None:
        webhook_inbox_drain_request()  # when the caller's transaction commits


def webhook_receive(*, body: bytes, headers) -> ReceiveResult:
    """Verify, parse, check the replay window, store once. The answer's status code is never 5xx.

    Order: size → signature → JSON → timestamp window → dedup INSERT (→ spool → 429). The 200 is sent only
    once the event is committed to the inbox or fsynced to the spool.
    """
    received_at = timezone.now()
    if len(body) > settings.GHL_WEBHOOK_MAX_BODY_BYTES:
        webhook_rejection_count(reason="too-large")
        return ReceiveResult(413, {"error": "payload-too-large"})

    check = verify_signature(body, ed25519_signature=headers.get(ED25519_HEADER), rsa_signature=headers.get(RSA_HEADER))
    if not check.valid:
        webhook_rejection_count(reason=check.reason)
        logger.info("ghl.webhook.rejected", extra={"reason": check.reason})
        return ReceiveResult(401, {"error": check.reason})

    try:
        payload = webhook_payload_parse(body)
    except InvalidPayload as exc:
        webhook_rejection_count(reason=str(exc))
        logger.warning("ghl.webhook.invalid-payload", extra={"reason": str(exc)})
        return ReceiveResult(400, {"error": str(exc)})

    meta = event_meta_of(payload)
    problem = timestamp_problem(meta.delivered_at, now=received_at)
    if problem:
        # 400, not 429: a replayed or very late body never becomes acceptable, so GHL must not retry it.
        webhook_rejection_count(reason=problem)
        logger.warning(
            "ghl.webhook.outside-replay-window",
            extra={"reason": problem, "webhook_id": meta.webhook_id, "event_type": meta.event_type},
        )
        return ReceiveResult(400, {"error": problem})

    kept_headers = interesting_headers(headers)
    try:
        outcome = webhook_event_store(
            body=body, meta=meta, headers=kept_headers, signature_algorithm=check.algorithm, received_at=received_at
        )
    except DatabaseError:
        logger.error("ghl.webhook.store-failed", extra={"webhook_id": meta.webhook_id}, exc_info=True)
        return _spool_or_429(body=body, headers=kept_headers, algorithm=check.algorithm, received_at=received_at)

    if outcome.duplicate:
        return ReceiveResult(200, {"status": "duplicate"})
    return ReceiveResult(200, {"status": "accepted", "id": outcome.event_id})


def _spool_or_429(*, body: bytes, headers: dict, algorithm: str, received_at: datetime) -> ReceiveResult:
    try:
        path = spool_write(body=body, headers=headers, signature_algorithm=algorithm, received_at=received_at)
    except (OSError, RuntimeError):
        # Neither the database nor the disk took it: 429 is the only answer GHL retries (~10 min later).
        logger.error("ghl.webhook.spool-failed", exc_info=True)
        return ReceiveResult(429, {"error": "temporarily-unavailable"})
    logger.warning("ghl.webhook.spooled", extra={"path": str(path)})
    return ReceiveResult(200, {"status": "spooled"})
