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
