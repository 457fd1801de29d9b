"""The inbound half of a record's sync history (`RemoteChange`): what a row says, and its retention.

The rows are written by `inbound.py` (one per applied record; a page's bulk creates as one summary), by
`outbound.py` (values a push worker's read of the remote took) and by `crm.services.opportunity_sync` (deals, which
have an apply of their own), and read by the contact's page (`crm.selectors.contact_pages.contact_inbound_history`:
the contact's rows and its deals').
"""
import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .hashing import canonical, values_equal
from .mapping import get_local_value
from .models import RemoteChange

logger = logging.getLogger(__name__)

PRUNE_BATCH = 10_000


def changes_of(obj: models.Model, before: dict[str, Any], names: Iterable[str]) -> dict[str, list]:
    """field → [old, new] for ``names`` whose value moved from ``before`` (canonical, as snapshots hold them)."""
    out = {}
    for name in names:
        new = canonical(get_local_value(obj, name))
        if not values_equal(name, before.get(name), new):
            out[name] = [before.get(name), new]
    return out


def remote_change_note(*, obj: models.Model, provider: str, account_id: str, content_type, external_id: str,
                       before: dict[str, Any], names: Iterable[str], conflicts: Iterable = (),
                       source: str = RemoteChange.Source.READ, remote_updated_at=None,
                       outcome: str = RemoteChange.Outcome.UPDATED) -> RemoteChange | None:
    """Record (one INSERT) that values read from the remote were written to ``obj``: ``before`` holds the local
    values of ``names`` before the write (``{}`` for a record just created: every value is new). Nothing when no
    value moved and no conflict (`SyncConflict`) was decided."""
    changes = changes_of(obj, before, names)
    decided = [{"field": c.field, "decision": c.decision} for c in conflicts]
    if not changes and not decided:
        return None
    return RemoteChange.objects.create(
        organization_id=obj.organization_id, provider=provider, account_id=account_id, content_type=content_type,
        object_id=obj.pk, external_id=external_id, source=source, outcome=outcome,
        changes=changes, conflicts=decided, remote_updated_at=remote_updated_at)


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
