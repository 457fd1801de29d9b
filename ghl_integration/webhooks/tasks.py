"""Celery tasks of the webhook inbox: thin wrappers that call one service each."""

import logging

from celery import shared_task
from django.db import DatabaseError

from .maintenance import webhook_events_prune, webhook_events_requeue_stuck, webhook_spool_drain
from .processing import webhook_event_process, webhook_inbox_drain

logger = logging.getLogger(__name__)


@shared_task(
    name="ghl_integration.webhooks.process_webhook_event",
    acks_late=True,
    ignore_result=True,
    # Database trouble in the worker: retry the task. Handler failures are retried by the service itself.
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def process_webhook_event_task(event_id: int) -> str:
    return webhook_event_process(event_id=event_id).status


@shared_task(
    name="ghl_integration.webhooks.drain_webhook_inbox",
    ignore_result=True,
    # Claimed events of a drain that dies are not lost: their lease expires and the requeue sweep takes them.
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def drain_webhook_inbox_task() -> int:
    return len(webhook_inbox_drain().statuses)


@shared_task(name="ghl_integration.webhooks.requeue_stuck_webhook_events", ignore_result=True)
def requeue_stuck_webhook_events_task() -> int:
    return webhook_events_requeue_stuck()


@shared_task(name="ghl_integration.webhooks.drain_webhook_spool", ignore_result=True)
def drain_webhook_spool_task() -> int:
    return webhook_spool_drain()


@shared_task(name="ghl_integration.webhooks.prune_webhook_events", ignore_result=True)
def prune_webhook_events_task() -> dict:
    return webhook_events_prune()
