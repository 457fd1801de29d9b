"""Entry points that start contact sync work: the settings page and admin, and the connection becoming active."""
import logging

from django.conf import settings

from crm.sync.locks import SyncBusy
from crm.sync.models import SyncRun

from ..client import GhlApiError
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.exclusive import location_job_busy, location_job_name
from .mapping import contact_mapping_ensure_defaults
from .tasks import contacts_initial_pull_queue, contacts_reconcile_task

logger = logging.getLogger(__name__)


def _refuse_unless_syncable(connection: GhlConnection) -> None:
    """`ConnectionInactive` in words a person can act on: contacts sync from an active location connection."""
    if not connection.location_id:
        raise ConnectionInactive(
            "this is an agency connection; contacts sync per location: choose the location of the organization "
            "first, then resync that location's connection")
    if not connection.is_active:
        raise ConnectionInactive(f"the connection to {connection.location_name or connection.location_id} is "
                                 f"{connection.get_status_display().lower()}; reconnect GoHighLevel first")


def contacts_resync_request(*, connection: GhlConnection) -> None:
    """Queue a fresh initial pull (after commit). Raises `ConnectionInactive` for an inactive connection and
    `SyncBusy` while a pull of the location runs."""
    _refuse_unless_syncable(connection)
    _refuse_if_running(connection, SyncRun.Kind.INITIAL_PULL)
    contacts_initial_pull_queue(connection_id=connection.pk, resume=False)


def contacts_reconcile_request(*, connection: GhlConnection) -> None:
    """Queue one reconciliation now. Raises `ConnectionInactive` for an inactive connection and `SyncBusy`
    while a reconciliation of the location runs."""
    _refuse_unless_syncable(connection)
    _refuse_if_running(connection, SyncRun.Kind.RECONCILE)
    contacts_reconcile_task.delay(connection.pk)


def _refuse_if_running(connection: GhlConnection, kind: str) -> None:
    # The task would skip itself anyway (it takes the same lock); saying so now tells the person who asked.
    if location_job_busy(connection, kind):
        raise SyncBusy(location_job_name(connection, kind))


def contacts_on_connected(sender, *, connection: GhlConnection, **kwargs) -> None:
    """Receiver of `connection_connected` for a location: turn its contact custom fields into mapping rows (one
    request, so the owner's settings page shows the whole field mapping at once and the pull starts on its
    pages; if GHL fails here the pull fetches them itself), then queue the initial pull after the commit
    (``GHL_SYNC_PULL_ON_CONNECT``)."""
    if connection.is_agency:
        return
    try:
        with GhlInstallation(connection).get_client() as client:
            contact_mapping_ensure_defaults(connection=connection, client=client)
    except (GhlApiError, ConnectionInactive) as exc:
        logger.warning("ghl.connection.mapping-deferred",
                       extra={"connection_id": connection.pk, "location_id": connection.location_id,
                              "error": str(exc)})
    if settings.GHL_SYNC_PULL_ON_CONNECT:
        contacts_initial_pull_queue(connection_id=connection.pk)
