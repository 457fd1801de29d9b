"""Disconnecting loses no data (#19 scenario e): what changed here while the location was disconnected reaches
GHL once it is connected again, and what changed on both sides meanwhile is decided by the connection's policy.

No outbox entry is recorded for an inactive connection, so the reconnect's pull queues the contacts changed here
since they last synced before it applies GHL's state; the push worker sends them. GHL, the pull and the push
are real (the sandbox over HTTP); the test drives the pull and the worker itself.
"""
import time

import pytest

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_archive, contact_create, contact_tags_add, contact_update
from crm.sync.conflict import conflict_policy_set
from crm.sync.models import OutboxEntry, SyncConflict
from ghl_integration.connections import connection_disconnect
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_reconcile
from ghl_integration.models import GhlConnection
from ghl_integration.sync.push import outbox_push_pending
from tests.factories import sandbox_connect

from .conftest import LOCATION_ID, contact_writes, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)


def _pushed(connected, **fields) -> tuple[Contact, str]:
    contact = contact_create(organization=connected.organization, **fields)
    outbox_push_pending(connection_id=connected.pk)
    return contact, ExternalIdentity.objects.get(object_id=contact.pk, account_id=LOCATION_ID).external_id


def _reconnect_and_sync(ghl, connected, owner) -> GhlConnection:
    """Connect the location again, then what the connect queues: the pull, then the push worker."""
    again = sandbox_connect(ghl, organization=connected.organization, user=owner, location_id=LOCATION_ID)
    assert again.pk == connected.pk
    contacts_initial_pull(connection=again)
    outbox_push_pending(connection_id=again.pk)
    return again


def _writes(ghl) -> list[str]:
    """Writes to GHL's contacts (a search is a read)."""
    return [f"{r['method']} {r['path']}" for r in contact_writes(ghl) if r["path"] != "/contacts/search"]


def _writes_to(ghl, ghl_id: str) -> list[str]:
    return [write for write in _writes(ghl) if ghl_id in write]


def test_edits_tags_archives_and_creates_made_while_disconnected_reach_ghl_once(ghl, connected, owner):
    # given: three contacts in sync with GHL, on a connection whose archives delete in GHL
    GhlConnection.objects.filter(pk=connected.pk).update(config={**connected.config, "delete_policy": "delete"})
    renamed, renamed_id = _pushed(connected, first_name="Before", email="renamed@example.com")
    tagged, tagged_id = _pushed(connected, first_name="Tagged", email="tagged@example.com", tags=["kept"])
    gone, gone_id = _pushed(connected, first_name="Gone", email="gone@example.com")
    connection_disconnect(connection=connected)

    # and: while disconnected, edits here (GHL changes another field of one of them meanwhile)
    contact_update(contact=renamed, first_name="Offline")
    contact_tags_add(contact=tagged, tags=["offline"])
    contact_archive(contact=gone)
    contact_create(organization=connected.organization, first_name="Newcomer", email="newcomer@example.com")
    ghl.control.change_contact("update", contactId=renamed_id, city="Lisbon")
    ghl.control.clear_request_log()

    # when: the owner connects again
    again = _reconnect_and_sync(ghl, connected, owner)

    # then: every change made here is in GHL, and GHL's own change is kept on both sides
    remote = ghl_contact(ghl, renamed_id)
    assert (remote["firstName"], remote["city"]) == ("Offline", "Lisbon")
    renamed.refresh_from_db()
    assert (renamed.first_name, renamed.city) == ("Offline", "Lisbon")
    assert {"kept", "offline"} <= {t.lower() for t in ghl_contact(ghl, tagged_id)["tags"]}
    assert gone_id not in {c["id"] for c in ghl.control.objects("contact", location_id=LOCATION_ID)}
    assert [c for c in ghl.control.objects("contact", location_id=LOCATION_ID)
            if c.get("email") == "newcomer@example.com"]
    assert not SyncConflict.objects.exists()  # each field changed on one side only

    # and: each change was sent once: no second push by a later sweep, pull or reconciliation
    assert _writes_to(ghl, renamed_id) == [f"PUT /contacts/{renamed_id}"]
    assert _writes_to(ghl, tagged_id) == [f"POST /contacts/{tagged_id}/tags"]
    assert _writes_to(ghl, gone_id) == [f"DELETE /contacts/{gone_id}"]
    writes = _writes(ghl)
    outbox_push_pending(connection_id=again.pk)
    contacts_reconcile(connection=again)
    outbox_push_pending(connection_id=again.pk)
    assert _writes(ghl) == writes
    assert not OutboxEntry.objects.filter(status__in=["pending", "in_progress", "failed", "dead"]).exists()


@pytest.mark.parametrize(("policy", "winner", "decision"), [
    ("newest_wins", "There", "remote"),  # GHL's edit came last
    ("local_wins", "Here", "local"),
])
def test_a_field_changed_on_both_sides_while_disconnected_is_a_conflict_decided_by_policy(
        ghl, connected, owner, policy, winner, decision):
    conflict_policy_set(organization=connected.organization, provider="ghl", account_id=LOCATION_ID, field="*",
                        policy=policy)
    contact, ghl_id = _pushed(connected, first_name="Base", email="both-sides@example.com")
    connection_disconnect(connection=connected)
    contact_update(contact=contact, first_name="Here", city="Porto")  # city: changed here only
    time.sleep(0.01)
    ghl.control.change_contact("update", contactId=ghl_id, firstName="There")

    _reconnect_and_sync(ghl, connected, owner)

    contact.refresh_from_db()
    remote = ghl_contact(ghl, ghl_id)
    assert (contact.first_name, remote["firstName"]) == (winner, winner)
    assert (contact.city, remote["city"]) == ("Porto", "Porto")
    conflict = SyncConflict.objects.get()
    assert (conflict.field, conflict.base_value, conflict.local_value, conflict.remote_value) == (
        "first_name", "Base", "Here", "There")
    assert (conflict.policy, conflict.decision) == (policy, decision)


def test_a_connection_that_does_not_push_contacts_keeps_its_offline_edits_here(ghl, connected, owner):
    contact, ghl_id = _pushed(connected, first_name="Before", email="kept-here@example.com")
    GhlConnection.objects.filter(pk=connected.pk).update(config={**connected.config, "outbound_contacts": False})
    connection_disconnect(connection=connected)
    contact_update(contact=contact, first_name="Offline")
    ghl.control.clear_request_log()

    _reconnect_and_sync(ghl, connected, owner)

    assert not OutboxEntry.objects.filter(object_id=contact.pk, status="pending").exists()
    assert _writes(ghl) == []
    assert ghl_contact(ghl, ghl_id)["firstName"] == "Before"
