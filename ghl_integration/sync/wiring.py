"""Hooks GHL's contact sync into `crm.sync` (call from `GhlIntegrationConfig.ready()`; idempotent).

* `connect_outbound()`: after a transaction that recorded outbox entries for a GHL location commits, queue
  that location's push task at once (the ≤ 2 s promise), instead of waiting for the minute sweep.
* `ghl_contact_sync_targets(organization_id)`: the accounts an organisation pushes to (its active
  connections' location ids, unless ``config["outbound_contacts"]`` is false). The inbound half owns the
  registration of the resolver in ``apps.py``; tests and the benchmark register this one when it is absent.
"""
from crm.sync.outbox import register_push_notifier

from ..models import GhlConnection

PROVIDER = "ghl"


def _notify(account_id: str) -> None:
    from .contacts_outbound import contacts_push_queue

    contacts_push_queue(location_id=account_id)


def connect_outbound() -> None:
    register_push_notifier(PROVIDER, _notify)


def ghl_contact_sync_targets(organization_id: int) -> list[tuple[str, str]]:
    rows = GhlConnection.objects.filter(
        organization_id=organization_id, status=GhlConnection.Status.ACTIVE
    ).exclude(location_id="").values_list("location_id", "config")
    return [(PROVIDER, location_id) for location_id, config in rows if (config or {}).get("outbound_contacts", True)]
