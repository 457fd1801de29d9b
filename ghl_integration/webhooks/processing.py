"""Worker-side services: claim inbox events, route each to its handler, record the outcome.

Status transitions (README.md):
    received ─claim→ processing ─→ processed | ignored | skipped | dead
                                 └→ failed ─(backoff, claim)→ processing …  → dead after the last attempt
New events are claimed in batches by `webhook_inbox_drain` (SKIP LOCKED); retries, replays of a single event and
requeued events are claimed one by one by `webhook_event_process`. Either claim is a conditional UPDATE, so two
workers never run the same event at once. A drain renews its claim while it works and gives back what it
had not run when it fails; a claim held by a worker that died (or whose database went away) expires after its
short lease (`tuning.INBOX`), and the next drain, or the minute requeue sweep, takes the event again.
"""

import json
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ghl_integration.models import GhlConnection, WebhookEvent

from . import dispatch, tuning
from .doorbell import webhook_inbox_drain_request, webhook_inbox_drain_started
from .handlers.base import PermanentWebhookError
from .selectors import connection_active_for_event
from .services import webhook_event_enqueue

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 4000
S = WebhookEvent.Status


@dataclass(frozen=True)
class ProcessOutcome:
    status: str  # the event's new status, or "not-claimed"
    retry_in: float | None = None


def retry_delay(attempt: int) -> float:
    """Exponential backoff with ±10 % jitter: base · 2^(attempt-1), capped."""
    inbox = tuning.INBOX
    delay = min(inbox.retry_base_seconds * 2 ** max(attempt - 1, 0), inbox.retry_max_seconds)
    return delay * random.uniform(0.9, 1.1)


def webhook_event_claim(*, event_id: int) -> WebhookEvent | None:
    """Take the event for this worker; returns the claimed row (`attempts` is this attempt's number), or None
    when it is not ours to run (finished, claimed by a live worker, or gone)."""
    now = timezone.now()
    claimable = Q(status__in=(S.RECEIVED, S.FAILED)) | Q(status=S.PROCESSING, lease_expires_at__lt=now)
    claimed = WebhookEvent.objects.filter(claimable, pk=event_id).update(
        status=S.PROCESSING,
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=tuning.INBOX.lease_seconds),
    )
    if not claimed:
        return None
    return WebhookEvent.objects.get(pk=event_id)


def _finish(event: WebhookEvent, attempt: int, status: str, *, error: str = "", retry_in: float | None = None) -> None:
    now = timezone.now()
    fields = {
        "status": status,
        "last_error": error[:MAX_ERROR_LENGTH],
        "lease_expires_at": None,
        "connection_id": event.connection_id,
        "organization_id": event.organization_id,
        "processed_at": now if status in WebhookEvent.FINISHED else None,
        "next_attempt_at": now + timedelta(seconds=retry_in) if retry_in is not None else None,
    }
    if retry_in is not None:
        fields["queued_at"] = now
    # Only the claim holder (same attempt number, still processing) may record the outcome.
    WebhookEvent.objects.filter(pk=event.pk, status=S.PROCESSING, attempts=attempt).update(**fields)


def webhook_event_process(*, event_id: int) -> ProcessOutcome:
    """Claim one event by id and run it (a retry, a replay, a requeued event). Raises only on database trouble
    (the task retries that)."""
    event = webhook_event_claim(event_id=event_id)
    if event is None:
        logger.info("ghl.webhook.not-claimed", extra={"event_id": event_id})
        return ProcessOutcome(status="not-claimed")
    batch = _Batch()
    outcome = _run_claimed(event, batch)
    batch.flush()
    return outcome


@dataclass
class DrainResult:
    statuses: list[str] = field(default_factory=list)  # each claimed event's outcome, in claim order
    handed_over: bool = False  # out of time with work left: a fresh drain was requested


def webhook_inbox_drain(*, batch_size: int | None = None, max_seconds: float | None = None) -> DrainResult:
    """Process every `received` event, oldest first, claiming `batch_size` at a time (SKIP LOCKED, so several
    drains share the work), until a claim comes back short. After `max_seconds` it requests a fresh drain and
    returns. Raises only on database
    trouble (the task retries that)."""
    batch_size = batch_size or tuning.INBOX.drain_batch
    max_seconds = tuning.INBOX.drain_max_seconds if max_seconds is None else max_seconds
    webhook_inbox_drain_started()  # before the first claim: see doorbell.py for why nothing is left behind
    deadline = time.monotonic() + max_seconds
    result = DrainResult()
    while True:
        events = webhook_events_claim_received(limit=batch_size)
        if not events:
            return result
        batch = _Batch()
        lease = _Lease()
        try:
            for index, event in enumerate(events):
                lease.keep(events[index:])
                result.statuses.append(_run_claimed(event, batch).status)
            batch.flush()
        except BaseException:
            # Give back what this drain claimed and did not finish, so the retried drain (or another) takes it
            # at once. With the database gone this fails too; then the short lease frees them.
            webhook_events_release(events=events, batch=batch)  # finished ones are no longer `processing`
            raise
        if len(events) < batch_size:
            # Caught up. Every event stored since this drain started rang for a drain of its own (the doorbell
            # was reset before the first claim), so stopping here leaves nothing behind; claiming again at
            # once would, during a burst, spin on a few events per claim instead of letting the next drain
            # take them as a batch.
            return result
        if time.monotonic() >= deadline:
            webhook_inbox_drain_request(force=True)
            result.handed_over = True
            return result


def webhook_events_claim_received(*, limit: int) -> list[WebhookEvent]:
    """Claim up to `limit` waiting events, oldest first: `received` ones, and those whose claim expired (a
    drain that died or lost its database). Rows another drain is claiming right now are skipped (on SQLite,
    which has no row locks, writers are serialised anyway)."""
    now = timezone.now()
    claimable = Q(status=S.RECEIVED) | Q(status=S.PROCESSING, lease_expires_at__lt=now)
    with transaction.atomic():
        ids = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(claimable)
            .order_by("queued_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        WebhookEvent.objects.filter(claimable, pk__in=ids).update(
            status=S.PROCESSING,
            attempts=F("attempts") + 1,
            lease_expires_at=now + timedelta(seconds=tuning.INBOX.lease_seconds),
        )
        return list(WebhookEvent.objects.filter(pk__in=ids, status=S.PROCESSING).order_by("queued_at", "pk"))


class _Lease:
    """Renews the claim on a batch's unfinished events every third of the lease while a drain works on it."""

    def __init__(self):
        self.renewed_at = time.monotonic()

    def keep(self, unfinished: list[WebhookEvent]) -> None:
        lease_seconds = tuning.INBOX.lease_seconds
        if time.monotonic() - self.renewed_at < lease_seconds / 3:
            return
        now = timezone.now()
        for attempt in {e.attempts for e in unfinished}:
            WebhookEvent.objects.filter(pk__in=[e.pk for e in unfinished if e.attempts == attempt],
                                        status=S.PROCESSING, attempts=attempt).update(
                lease_expires_at=now + timedelta(seconds=lease_seconds))
        self.renewed_at = time.monotonic()


def webhook_events_release(*, events: list[WebhookEvent], batch: "_Batch | None" = None) -> int:
    """Hand claimed events that were not run back to the inbox (`received`, the claim not counted as an
    attempt). Best effort: on database trouble it logs and returns 0 (their lease expires instead)."""
    if not events:
        return 0
    released = 0
    try:
        if batch is not None:
            batch.flush()  # outcomes already decided are kept
        for attempt in {e.attempts for e in events}:
            released += WebhookEvent.objects.filter(
                pk__in=[e.pk for e in events if e.attempts == attempt], status=S.PROCESSING, attempts=attempt
            ).update(status=S.RECEIVED, attempts=F("attempts") - 1, lease_expires_at=None)
    except Exception as exc:  # noqa: BLE001 - the database is down: the short lease frees them
        logger.warning("ghl.webhook.release-failed", extra={"count": len(events),
                                                             "error": f"{type(exc).__name__}: {exc}"})
        return 0
    logger.warning("ghl.webhook.released", extra={"count": released})
    return released


class _Batch:
    """Outcomes that need no handler (ignored, skipped) recorded with one UPDATE per status and attempt."""

    def __init__(self):
        self.pending: dict[tuple[str, int], list[int]] = defaultdict(list)
        self.connections: dict[tuple[str, str], GhlConnection | None] = {}

    def finish_later(self, event: WebhookEvent, status: str) -> None:
        self.pending[(status, event.attempts)].append(event.pk)

    def connection_for(self, event: WebhookEvent) -> GhlConnection | None:
        key = (event.location_id, event.company_id)
        if key not in self.connections:
            self.connections[key] = connection_active_for_event(
                location_id=event.location_id, company_id=event.company_id
            )
        return self.connections[key]

    def flush(self) -> None:
        now = timezone.now()
        for (status, attempt), ids in self.pending.items():
            WebhookEvent.objects.filter(pk__in=ids, status=S.PROCESSING, attempts=attempt).update(
                status=status, last_error="", lease_expires_at=None, processed_at=now, next_attempt_at=None
            )
        self.pending.clear()


def _run_claimed(event: WebhookEvent, batch: _Batch) -> ProcessOutcome:
    attempt = event.attempts
    log_extra = {"event_id": event.pk, "event_type": event.event_type, "webhook_id": event.webhook_id}

    try:
        payload = json.loads(event.body)
        if not isinstance(payload, dict):
            raise ValueError("body is not a JSON object")
    except (ValueError, RecursionError) as exc:  # cannot happen for rows stored by the endpoint
        _finish(event, attempt, S.DEAD, error=f"unreadable body: {exc}")
        logger.error("ghl.webhook.unreadable-body", extra=log_extra)
        return ProcessOutcome(status=S.DEAD)

    handler = dispatch.handler_for(event.event_type)
    if handler is None:
        if not dispatch.is_known_event(event.event_type):
            logger.warning("ghl.webhook.unsupported-event", extra=log_extra)
        batch.finish_later(event, S.IGNORED)
        return ProcessOutcome(status=S.IGNORED)

    if event.event_type not in dispatch.CONNECTIONLESS_EVENTS:
        connection = batch.connection_for(event)
        if connection is None:
            logger.info("ghl.webhook.no-active-connection", extra={**log_extra, "location_id": event.location_id})
            batch.finish_later(event, S.SKIPPED)
            return ProcessOutcome(status=S.SKIPPED)
        event.connection = connection
        event.organization_id = connection.organization_id

    try:
        with transaction.atomic():
            handler(event, payload)
            _finish(event, attempt, S.PROCESSED)  # the handler's writes and "processed" commit together
    except PermanentWebhookError as exc:
        _finish(event, attempt, S.DEAD, error=f"{type(exc).__name__}: {exc}")
        logger.warning("ghl.webhook.dead", extra={**log_extra, "error": str(exc)})
        return ProcessOutcome(status=S.DEAD)
    except Exception as exc:  # RetryableWebhookError, or a bug: retry with backoff, never lose the event
        error = f"{type(exc).__name__}: {exc}"
        if attempt >= tuning.INBOX.max_attempts:
            _finish(event, attempt, S.DEAD, error=error)
            logger.error("ghl.webhook.dead", extra={**log_extra, "error": error, "attempts": attempt}, exc_info=True)
            return ProcessOutcome(status=S.DEAD)
        delay = getattr(exc, "retry_in", None) or retry_delay(attempt)
        with transaction.atomic():
            _finish(event, attempt, S.FAILED, error=error, retry_in=delay)
            webhook_event_enqueue(event_id=event.pk, countdown=delay)
        logger.warning(
            "ghl.webhook.failed",
            extra={**log_extra, "error": error, "attempts": attempt, "retry_in": delay},
            exc_info=True,
        )
        return ProcessOutcome(status=S.FAILED, retry_in=delay)
    return ProcessOutcome(status=S.PROCESSED)


def webhook_events_replay(*, event_ids) -> int:
    """Hand chosen events to the workers again (admin "replay"), with a fresh attempt budget.

    Events currently claimed by a worker are left alone. Returns how many were queued.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            WebhookEvent.objects.filter(pk__in=list(event_ids))
            .exclude(status=S.PROCESSING, lease_expires_at__gte=now)
            .values_list("pk", flat=True)
        )
        WebhookEvent.objects.filter(pk__in=ids).update(
            status=S.RECEIVED, attempts=0, queued_at=now, next_attempt_at=None, lease_expires_at=None, processed_at=None
        )
        if ids:
            webhook_inbox_drain_request(force=True)
    logger.info("ghl.webhook.replayed", extra={"count": len(ids)})
    return len(ids)
