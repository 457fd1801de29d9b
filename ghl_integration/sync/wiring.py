"""Hooks GHL's sync into `crm.sync` and into the connection lifecycle (call from
`GhlIntegrationConfig.ready()`; idempotent).

* `connect_outbound()`: after a transaction that recorded outbox entries for a GHL location commits, queue
  that location's push task at once (the ≤ 2 s promise), instead of waiting for the minute sweep.
* `connect_lifecycle()`: when a connection becomes active (`connection_connected`), `outbox_on_connected` (a
  reconnect pushes what waited while it was away at once, not at the next sweep). Each kind's own on-connect
  receiver (contacts: `contacts.services.contacts_on_connected`) is named by its declaration (`<kind>/kind.py`)
  and connected by `registry.ghl_kinds_register()`, before this one.
(The kinds' sync target resolvers, `targets.py`, are registered by `registry.ghl_kinds_register()` too.)
"""
import logging

from django.db import transaction

from crm.sync.outbox import register_push_notifier

from ..models import GhlConnection
from ..provider import GHL
from ..signals import connection_connected

logger = logging.getLogger(__name__)

PROVIDER = GHL.key


def _notify(account_id: str) -> None:
    from .push import outbox_push_queue

    outbox_push_queue(location_id=account_id)


def connect_outbound() -> None:
    register_push_notifier(PROVIDER, _notify)


def outbox_on_connected(sender, *, connection: GhlConnection, **kwargs) -> None:
    """Receiver of `connection_connected` for a location: after the commit, queue its push, so the changes
    recorded while it was disconnected (kept pending) leave at once. A broker that is down costs one log line;
    the minute sweep queues it then."""
    if connection.is_agency or not connection.location_id:
        return

    def queue() -> None:
        from .push import outbox_push_queue

        try:
            outbox_push_queue(location_id=connection.location_id)
        except Exception as exc:  # noqa: BLE001 - the sweep picks the entries up
            logger.warning("ghl.sync.push.queue-failed", extra={"connection_id": connection.pk,
                                                                "error": f"{type(exc).__name__}: {exc}"})

    transaction.on_commit(queue)


def connect_lifecycle() -> None:
    connection_connected.connect(outbox_on_connected, dispatch_uid="ghl.sync.outbox-on-connected")
