"""The inbound half of a record's sync history (`RemoteChange`): its retention.

The rows are written by `inbound.py` (one per applied record; a page's bulk creates as one summary) and read by
the record's page (`crm.selectors.contact_pages.contact_inbound_history`).
"""
import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from .models import RemoteChange

logger = logging.getLogger(__name__)

PRUNE_BATCH = 10_000


def remote_changes_prune(*, now: dt.datetime | None = None) -> int:
    """Delete history rows older than ``CRM_SYNC_HISTORY_RETENTION_DAYS``, in batches (a short lock each);
    returns how many went."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.CRM_SYNC_HISTORY_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(RemoteChange.objects.filter(applied_at__lt=cutoff).order_by("applied_at")
                   .values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        deleted += RemoteChange.objects.filter(pk__in=ids).delete()[0]
    logger.info("crm.sync.history.pruned", extra={"deleted": deleted})
    return deleted
