"""Celery tasks of the GHL integration: thin wrappers that take ids and call one service."""
import logging

from celery import shared_task

from .connections import connections_refresh_expiring

logger = logging.getLogger(__name__)


REFRESH_SWEEP_BUDGET_SECONDS = 20.0  # the maintenance queue's tasks stay short: it recovers everything else


@shared_task(name="ghl_integration.refresh_expiring_connections")
def refresh_expiring_connections_task() -> dict[str, int]:
    """Beat: refresh every active connection whose token expires within GHL_TOKEN_REFRESH_MARGIN_S, bounded in
    time; what is left goes to one follow-up, queued behind whatever else waits."""
    counts = connections_refresh_expiring(budget_seconds=REFRESH_SWEEP_BUDGET_SECONDS)
    logger.info("ghl.connection.refresh-sweep", extra=counts)
    if counts.get("left"):
        refresh_expiring_connections_task.apply_async()
    return counts
