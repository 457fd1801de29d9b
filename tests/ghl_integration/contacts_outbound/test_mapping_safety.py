"""Field mapping safety: internal fields are not mappable, DND always stays mapped, replacing a default warns
and can be reset, a mapping can be deleted, and a change re-applies to the contacts already here."""
import pytest
from django.urls import reverse

from crm.models import Contact
from crm.sync.models import FieldMapping
from ghl_integration.contacts import tasks as sync_tasks
from ghl_integration.contacts.pull import contacts_initial_pull

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued_pulls(monkeypatch):
    """Pulls the page queues (no worker in tests): the test runs them itself."""
    calls = []
    monkeypatch.setattr(sync_tasks.contacts_initial_pull_task, "delay", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def urls(connected, client, owner):
    client.force_login(owner)
    org_id = connected.organization_id
    return {name: reverse(name, kwargs={"org_id": org_id})
            for name in ("ghl_settings", "ghl_field_mapping", "ghl_field_mapping_remove")}


def _map(client, urls, **data):
    return client.post(urls["ghl_field_mapping"], {"direction": "both", "is_active": "on", **data}, follow=True)


@pytest.mark.parametrize("local_field", ["is_archived", "archived_at", "created_at", "updated_at", "id"])
def test_internal_fields_are_not_mappable(client, urls, connected, local_field):
    response = _map(client, urls, remote_key="customFields.flag", local_field=local_field, data_type="boolean")

    assert response.status_code == 400
    page = response.content.decode()
    assert f"{local_field} is kept by AgentLevel itself and cannot be mapped." in page
    assert 'value="customFields.flag"' in page and f'value="{local_field}"' in page  # input kept, in place
    assert 'id="ghl-contact-sync-settings"' in page
    assert not FieldMapping.objects.filter(remote_key="customFields.flag").exists()


@pytest.mark.parametrize("data", [
    {"remote_key": "dnd", "local_field": "is_archived", "data_type": "boolean"},
    {"remote_key": "dnd", "local_field": "dnd_sms", "data_type": "boolean"},
    {"remote_key": "dnd.SMS", "local_field": "dnd_sms", "data_type": "boolean", "direction": "inbound"},
    {"remote_key": "dnd", "local_field": "dnd_all", "data_type": "boolean", "is_active": ""},
    {"remote_key": "customFields.x", "local_field": "dnd_call", "data_type": "boolean"},
])
def test_dnd_can_never_be_left_unmapped(client, urls, connected, data):
    response = _map(client, urls, **data)

    assert response.status_code == 400
    assert not FieldMapping.objects.filter(remote_key=data["remote_key"]).exists()


def test_a_local_field_takes_one_ghl_field(client, urls, connected):
    response = _map(client, urls, remote_key="customFields.nick", local_field="first_name", data_type="text")

    assert response.status_code == 400
    assert "first_name is already filled from GHL&#x27;s firstName" in response.content.decode()


def test_replacing_a_default_warns_and_reset_brings_it_back_on_existing_contacts(ghl, client, urls, connected,
                                                                                 queued_pulls):
    # given: a GHL contact pulled here
    created = ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Dana", email="dana@ex.com")
    ghl_id = created.get("id") or created["contact"]["id"]
    contacts_initial_pull(connection=connected)
    contact = Contact.objects.get(email="dana@ex.com")

    # when: the owner sends GHL's firstName elsewhere, and GHL then renames her
    response = _map(client, urls, remote_key="firstName", local_field="custom_properties.given_name",
                    data_type="text")
    page = response.content.decode()
    assert "firstName was mapped to first_name by default; it now fills custom_properties.given_name" in page
    assert "replaces the default (first_name)" in page and "Reset to default" in page
    ghl.control.change_contact("update", contactId=ghl_id, firstName="Danielle")
    contacts_initial_pull(connection=connected)
    contact.refresh_from_db()
    assert (contact.first_name, contact.custom_properties["given_name"]) == ("Dana", "Danielle")

    # when: the owner resets the mapping
    queued_pulls.clear()
    response = client.post(urls["ghl_field_mapping_remove"], {"remote_key": "firstName"}, follow=True)

    # then: the default is back and a resync re-applies it to the contacts already here
    assert "firstName is back to its default mapping." in response.content.decode()
    assert not FieldMapping.objects.filter(remote_key="firstName").exists()
    assert len(queued_pulls) == 1
    contacts_initial_pull(connection=connected)
    contact.refresh_from_db()
    assert contact.first_name == "Danielle"


def test_a_custom_mapping_can_be_deleted(client, urls, connected, queued_pulls):
    _map(client, urls, remote_key="customFields.plan", local_field="custom_properties.plan", data_type="text")
    assert FieldMapping.objects.filter(remote_key="customFields.plan").exists()
    page = client.get(urls["ghl_settings"]).content.decode()
    assert "Delete" in page

    response = client.post(urls["ghl_field_mapping_remove"], {"remote_key": "customFields.plan"}, follow=True)

    assert "customFields.plan is no longer mapped." in response.content.decode()
    assert not FieldMapping.objects.filter(remote_key="customFields.plan").exists()


def test_removing_a_mapping_that_is_not_there_says_so(client, urls, connected):
    response = client.post(urls["ghl_field_mapping_remove"], {"remote_key": "city"}, follow=True)

    assert "city has no mapping of its own to remove." in response.content.decode()


def test_custom_fields_show_their_names_before_load_custom_fields_is_pressed(client, urls, connected):
    row = FieldMapping.objects.filter(organization=connected.organization, remote_key__startswith="customFields.",
                                      ).exclude(remote_label="").first()
    assert row is not None  # connecting made these rows from GHL's custom fields

    page = client.get(urls["ghl_settings"]).content.decode()

    assert f"{row.remote_label} <span class=\"muted\">({row.remote_key})</span>" in page
