"""Entry points the settings page and admin call to start contact sync work."""
from crm.sync.locks import SyncBusy
from crm.sync.models import SyncRun

from ..connections import ConnectionInactive
from ..models import GhlConnection
from .exclusive import location_job_busy, location_job_name
from .tasks import contacts_initial_pull_queue, contacts_reconcile_task


def contacts_resync_request(*, connection: GhlConnection) -> None:
    """Queue a fresh initial pull (after commit). Raises `ConnectionInactive` for an inactive connection and
    `SyncBusy` while a pull of the location runs."""
    if not connection.is_active or not connection.location_id:
        raise ConnectionInactive(f"GHL connection {connection.pk} is {connection.status}")
    _refuse_if_running(connection, SyncRun.Kind.INITIAL_PULL)
    contacts_initial_pull_queue(connection_id=connection.pk, resume=False)


def contacts_reconcile_request(*, connection: GhlConnection) -> None:
    """Queue one reconciliation now. Raises `ConnectionInactive` for an inactive connection and `SyncBusy`
    while a reconciliation of the location runs."""
    if not connection.is_active or not connection.location_id:
        raise ConnectionInactive(f"GHL connection {connection.pk} is {connection.status}")
    _refuse_if_running(connection, SyncRun.Kind.RECONCILE)
    contacts_reconcile_task.delay(connection.pk)


def _refuse_if_running(connection: GhlConnection, kind: str) -> None:
    # The task would skip itself anyway (it takes the same lock); saying so now tells the person who asked.
    if location_job_busy(connection, kind):
        raise SyncBusy(location_job_name(connection, kind))
