"""Concurrent edits on both sides: the connection's policy decides at push time, and the conflict is recorded."""
import time

import pytest

from crm.models import ExternalIdentity
from crm.services.contacts import contact_create, contact_update
from crm.sync.conflict import conflict_policy_set
from crm.sync.models import OutboxEntry, SyncConflict
from ghl_integration.sync.push import outbox_push_pending

from .conftest import LOCATION_ID, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)


def _synced_contact(ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Base", email="both@example.com")
    outbox_push_pending(connection_id=connected.pk)
    return contact, ExternalIdentity.objects.get(object_id=contact.pk).external_id


def test_newest_wins_by_default_and_the_conflict_is_recorded(ghl, connected):
    contact, ghl_id = _synced_contact(ghl, connected)
    # given: GHL first (its webhook not applied yet), then the local edit
    ghl.control.change_contact("update", contactId=ghl_id, firstName="FromGhl")
    time.sleep(0.01)
    contact_update(contact=contact, first_name="FromHere")
    # when
    outbox_push_pending(connection_id=connected.pk)
    # then
    assert ghl_contact(ghl, ghl_id)["firstName"] == "FromHere"
    conflict = SyncConflict.objects.get()
    assert (conflict.field, conflict.base_value, conflict.local_value, conflict.remote_value) == (
        "first_name", "Base", "FromHere", "FromGhl")
    assert (conflict.policy, conflict.decision) == ("newest_wins", "local")


def test_ghl_wins_policy_keeps_the_ghl_value_and_applies_it_locally(ghl, connected):
    contact, ghl_id = _synced_contact(ghl, connected)
    conflict_policy_set(organization=connected.organization, provider="ghl", account_id=LOCATION_ID, field="*",
                        policy="remote_wins")
    ghl.control.change_contact("update", contactId=ghl_id, firstName="FromGhl")
    contact_update(contact=contact, first_name="FromHere", city="Paris")
    ghl.control.clear_request_log()

    outbox_push_pending(connection_id=connected.pk)

    remote = ghl_contact(ghl, ghl_id)
    assert (remote["firstName"], remote["city"]) == ("FromGhl", "Paris")  # city had no conflict: pushed
    contact.refresh_from_db()
    assert contact.first_name == "FromGhl"
    assert SyncConflict.objects.get().decision == "remote"
    assert not OutboxEntry.objects.filter(status__in=["pending", "failed"]).exists()  # nothing queued back
