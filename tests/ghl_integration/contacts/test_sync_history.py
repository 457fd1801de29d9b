"""A contact's page shows what GHL changed (the sandbox, over HTTP): by webhook, by the pull, by reconciliation."""
import pytest

from crm.sync.models import RemoteChange
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_reconcile
from tests.pages import contact_inbound_history

from .conftest import deliver, ghl_contacts, local_by_external_id

pytestmark = pytest.mark.django_db


def _history(client, connection, contact) -> str:
    return contact_inbound_history(client, connection.organization, contact, required=True)


def test_a_ghl_edit_by_webhook_shows_in_the_contacts_history_with_fields_and_values(client, ghl, connection,
                                                                                   receiver):
    # given: a pulled location
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    before = local_by_external_id(connection)[contact_id]

    # when: GHL renames the contact and moves it, then sets do-not-disturb
    ghl.control.change_contact("update", contactId=contact_id, firstName="Annabel", city="Salem")
    assert ghl.control.wait_webhooks()
    deliver(receiver.received)
    delivered = len(receiver.received)
    ghl.control.change_contact("dnd", contactId=contact_id, dnd=True)
    assert ghl.control.wait_webhooks()
    deliver(receiver.received[delivered:])

    # then: two webhook entries, newest first, naming the fields with their old and new values
    section = _history(client, connection, before)
    assert section.count("<td>Webhook</td>") == 2, section
    assert f"First name: {before.first_name} → Annabel" in section
    old_city = before.city or '<span class="muted">empty</span>'
    assert f"City: {old_city} → Salem" in section
    assert "Do not disturb (all channels): No → Yes" in section
    assert section.index("Do not disturb (all channels)") < section.index("Annabel")
    # and the pull that brought it here, last
    assert "Initial pull" in section and "Created here" in section
    assert section.index("Initial pull") > section.index("Annabel")


def test_a_change_found_by_the_reconciliation_shows_as_such(client, ghl, connection):
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    ghl.control.webhooks(urls=[])  # nothing is delivered: only the reconciliation can find it
    ghl.control.change_contact("update", contactId=contact_id, lastName="Reconciled")
    contact = local_by_external_id(connection)[contact_id]

    contacts_reconcile(connection=connection)

    section = _history(client, connection, contact)
    assert "Reconciliation" in section and "Last name:" in section and "→ Reconciled" in section
    [row] = RemoteChange.objects.filter(object_id=contact.pk, source="reconcile")
    assert row.changes["last_name"][1] == "Reconciled" and row.organization_id == connection.organization_id


def test_the_pull_writes_one_summary_per_page_not_a_row_per_contact(ghl, connection):
    result = contacts_initial_pull(connection=connection)

    created = RemoteChange.objects.filter(organization=connection.organization)
    assert set(created.values_list("object_id", "outcome", "source")) == {(None, "created", "pull")}
    assert sum(created.values_list("count", flat=True)) == result.run.created > 0
    assert created.count() <= result.pages
