"""Entry points the settings page and admin call to start contact sync work."""
from ..models import GhlConnection
from ..services.connections import ConnectionInactive
from .tasks import contacts_initial_pull_queue, contacts_reconcile_task


def contacts_resync_request(*, connection: GhlConnection) -> None:
    """Queue a fresh initial pull (after commit). Raises `ConnectionInactive` for an inactive connection."""
    if not connection.is_active or not connection.location_id:
        raise ConnectionInactive(f"GHL connection {connection.pk} is {connection.status}")
    contacts_initial_pull_queue(connection_id=connection.pk, resume=False)


def contacts_reconcile_request(*, connection: GhlConnection) -> None:
    """Queue one reconciliation now. Raises `ConnectionInactive` for an inactive connection."""
    if not connection.is_active or not connection.location_id:
        raise ConnectionInactive(f"GHL connection {connection.pk} is {connection.status}")
    contacts_reconcile_task.delay(connection.pk)
