"""Hooks GHL's contact sync into `crm.sync` and into the connection lifecycle (call from
`GhlIntegrationConfig.ready()`; idempotent).

* `connect_outbound()`: after a transaction that recorded outbox entries for a GHL location commits, queue
  that location's push task at once (the ≤ 2 s promise), instead of waiting for the minute sweep.
* `connect_lifecycle()`: when a connection becomes active (`connection_connected`), `contacts_on_connected`.
(The sync target resolver, `targets.ghl_contact_sync_targets`, is registered in `apps.py` itself.)
"""
import logging

from django.conf import settings

from crm.sync.outbox import register_push_notifier

from ..client import GhlApiError
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..provider import GHL
from ..signals import connection_connected
from .mapping import contact_mapping_ensure_defaults
from .tasks import contacts_initial_pull_queue

logger = logging.getLogger(__name__)

PROVIDER = GHL.key


def _notify(account_id: str) -> None:
    from .push import outbox_push_queue

    outbox_push_queue(location_id=account_id)


def connect_outbound() -> None:
    register_push_notifier(PROVIDER, _notify)


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


def connect_lifecycle() -> None:
    connection_connected.connect(contacts_on_connected, dispatch_uid="ghl.sync.contacts-on-connected")
