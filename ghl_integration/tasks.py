"""Celery tasks of the GHL integration: thin wrappers that take ids and call one service."""
import logging

from celery import shared_task

from .connections import connections_refresh_expiring

logger = logging.getLogger(__name__)


@shared_task(name="ghl_integration.refresh_expiring_connections")
def refresh_expiring_connections_task() -> dict[str, int]:
    """Beat: refresh every active connection whose token expires within GHL_TOKEN_REFRESH_MARGIN_S."""
    counts = connections_refresh_expiring()
    logger.info("ghl.connection.refresh-sweep", extra=counts)
    return counts


# The task names predate pushes of kinds other than contacts; they are kept because queued messages and the
# beat schedule carry them.
@shared_task(name="ghl_integration.sync.push_contacts", ignore_result=True)
def outbox_push_pending_task(connection_id: int) -> dict[str, int]:
    """Drain one connection's outbox into GHL, every kind by its pusher (queued after each local change, and
    by the sweep)."""
    from .sync.push import outbox_push_pending

    return outbox_push_pending(connection_id=connection_id)


@shared_task(name="ghl_integration.sync.sweep_contact_outbox", ignore_result=True)
def outbox_push_sweep_task() -> int:
    """Beat: queue a push for every connection with due outbox entries (retries after backoff, lost messages)."""
    from .sync.push import outbox_push_sweep

    return outbox_push_sweep()
