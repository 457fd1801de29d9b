"""Entry points the settings page and admin call to start contact sync work."""
from crm.sync.locks import SyncBusy
from crm.sync.models import SyncRun

from ..connections import ConnectionInactive
from ..models import GhlConnection
from ..sync.exclusive import location_job_busy, location_job_name
from .tasks import contacts_initial_pull_queue, contacts_reconcile_task


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
