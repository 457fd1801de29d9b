"""Hooks GHL's contact sync into `crm.sync` (call from `GhlIntegrationConfig.ready()`; idempotent).

* `connect_outbound()`: after a transaction that recorded outbox entries for a GHL location commits, queue
  that location's push task at once (the ≤ 2 s promise), instead of waiting for the minute sweep.
(The sync target resolver, `targets.ghl_contact_sync_targets`, is registered in `apps.py` itself.)
"""
from crm.sync.outbox import register_push_notifier

PROVIDER = "ghl"


def _notify(account_id: str) -> None:
    from .contacts_outbound import contacts_push_queue

    contacts_push_queue(location_id=account_id)


def connect_outbound() -> None:
    register_push_notifier(PROVIDER, _notify)
