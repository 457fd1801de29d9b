"""Periodic upkeep of the inbox: requeue stuck events, drain the spool, prune old rows and dedup keys."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from ghl_integration.models import WebhookEvent, WebhookRejection

from . import tuning
from .doorbell import webhook_inbox_drain_request
from .parsing import event_meta_of
from .selectors import webhook_events_needing_requeue
from .services import InvalidPayload, webhook_event_enqueue, webhook_event_store, webhook_payload_parse
from .spool import spool_pending, spool_read, spool_reject, spool_remove

logger = logging.getLogger(__name__)

REQUEUE_BATCH = 1000
SPOOL_BATCH = 1000


def webhook_events_requeue_stuck() -> int:
    """Queue again the events no worker has finished in time (worker died, broker lost the message).

    Events still `received` ring the drain (forced past the debounce, whose message may be the lost one);
    overdue retries and expired claims are queued one by one."""
    now = timezone.now()
    due = dict(
        webhook_events_needing_requeue(
            now=now, requeue_after=timedelta(seconds=tuning.INBOX.requeue_after_seconds), limit=REQUEUE_BATCH
        )
    )
    if not due:
        return 0
    ids = list(due)
    waiting = {pk for pk, status in due.items() if status == WebhookEvent.Status.RECEIVED}
    with transaction.atomic():
        WebhookEvent.objects.filter(pk__in=ids).update(queued_at=now)
        if waiting:
            webhook_inbox_drain_request(force=True)
        for event_id in ids:
            if event_id not in waiting:
                webhook_event_enqueue(event_id=event_id)
    logger.warning("ghl.webhook.requeued", extra={"count": len(ids), "waiting": len(waiting)})
    return len(ids)


def webhook_spool_drain() -> int:
    """Move spooled events into the inbox; returns how many files were consumed. Stops at database trouble."""
    consumed = 0
    for path in spool_pending(limit=SPOOL_BATCH):
        try:
            spooled = spool_read(path)
            payload = webhook_payload_parse(spooled.body)
        except FileNotFoundError:
            continue  # another drainer took it
        except (OSError, ValueError, KeyError, TypeError, InvalidPayload) as exc:
            spool_reject(path, reason=str(exc))
            continue
        try:
            # The replay window was checked when the event arrived; it is not checked again here.
            webhook_event_store(
                body=spooled.body,
                meta=event_meta_of(payload),
                headers=spooled.headers,
                signature_algorithm=spooled.signature_algorithm,
                received_at=spooled.received_at,
            )
        except DatabaseError:
            logger.warning("ghl.webhook.spool-drain-paused", extra={"path": str(path)}, exc_info=True)
            break  # still down: keep the file, try on the next run
        spool_remove(path)
        consumed += 1
    if consumed:
        logger.info("ghl.webhook.spool-drained", extra={"count": consumed})
    return consumed


def webhook_events_prune() -> dict:
    """Forget dedup keys past their retention, delete finished events and rejection counters past theirs."""
    now = timezone.now()
    dedup_cutoff = now - timedelta(hours=max(settings.GHL_WEBHOOK_DEDUP_RETENTION_HOURS, 2))
    keys_cleared = WebhookEvent.objects.filter(received_at__lt=dedup_cutoff, dedup_key__isnull=False).update(
        dedup_key=None
    )
    event_cutoff = now - timedelta(days=settings.GHL_WEBHOOK_EVENT_RETENTION_DAYS)
    events_deleted, _ = WebhookEvent.objects.filter(
        received_at__lt=event_cutoff, status__in=WebhookEvent.FINISHED
    ).delete()
    counters_deleted, _ = WebhookRejection.objects.filter(day__lt=event_cutoff.date()).delete()
    result = {
        "dedup_keys_cleared": keys_cleared,
        "events_deleted": events_deleted,
        "counters_deleted": counters_deleted,
    }
    logger.info("ghl.webhook.pruned", extra=result)
    return result
