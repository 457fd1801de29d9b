"""Staff edits in the admin go through the contact services: validated as everywhere, and pushed to GHL."""
import pytest

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.contacts.outbound import contacts_push_pending

from .conftest import LOCATION_ID, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)

INLINE = "crm-externalidentity-content_type-object_id"


def _form(org, **fields) -> dict:
    data = {"organization": org.pk, "first_name": "", "last_name": "", "full_name": "", "email": "", "phone": "",
            "additional_emails": "[]", "additional_phones": "[]", "tags": "[]", "custom_properties": "{}",
            f"{INLINE}-TOTAL_FORMS": "0", f"{INLINE}-INITIAL_FORMS": "0"}
    data.update(fields)
    return data


def _ghl_id(contact) -> str:
    return ExternalIdentity.objects.get(provider="ghl", account_id=LOCATION_ID, object_id=contact.pk).external_id


def test_a_contact_added_in_admin_reaches_ghl(admin_client, ghl, connected):
    org = connected.organization

    response = admin_client.post("/admin/crm/contact/add/", _form(
        org, first_name="Ada", last_name="Lovelace", email="ADA@example.com", phone="(503) 555-0142",
        country="gb"))

    assert response.status_code == 302, response.content.decode()[:2000]
    contact = Contact.objects.get(email="ada@example.com")
    assert (contact.full_name, contact.phone, contact.country) == ("Ada Lovelace", "+15035550142", "GB")
    assert OutboxEntry.objects.filter(object_id=contact.pk, status="pending").exists()  # queued at once
    contacts_push_pending(connection_id=connected.pk)
    assert ghl_contact(ghl, _ghl_id(contact))["lastName"] == "Lovelace"


def test_an_admin_edit_reaches_ghl(admin_client, ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Ada", email="ada@example.com")
    contacts_push_pending(connection_id=connected.pk)

    response = admin_client.post(f"/admin/crm/contact/{contact.pk}/change/", _form(
        connected.organization, first_name="Ada", email="ada@example.com", full_name="Ada", city="London",
        tags='["vip"]'))

    assert response.status_code == 302
    contacts_push_pending(connection_id=connected.pk)
    remote = ghl_contact(ghl, _ghl_id(contact))
    assert remote["city"] == "London" and remote["tags"] == ["vip"]


def test_admin_bulk_archive_goes_through_the_services(admin_client, ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Ada", email="ada@example.com")
    contacts_push_pending(connection_id=connected.pk)

    response = admin_client.post("/admin/crm/contact/", {"action": "archive_selected",
                                                          "_selected_action": [contact.pk]}, follow=True)

    assert "Archived 1 contact." in response.content.decode()
    contact.refresh_from_db()
    assert contact.is_archived and contact.archived_at is not None
    assert OutboxEntry.objects.filter(object_id=contact.pk, status="pending").exists()


def test_invalid_phone_and_country_are_refused_in_admin_as_in_the_services(admin_client, ghl, connected):
    response = admin_client.post("/admin/crm/contact/add/", _form(
        connected.organization, first_name="Ada", phone="call me maybe", country="Narnia"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "“call me maybe” is not a phone number." in page
    assert "Country must be a two-letter ISO code" in page or "at most 2 characters" in page
    assert not Contact.objects.exists() and not OutboxEntry.objects.exists()


def test_a_bad_phone_on_an_admin_edit_is_refused_and_nothing_changes(admin_client, ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Ada", phone="+15035550142")

    response = admin_client.post(f"/admin/crm/contact/{contact.pk}/change/", _form(
        connected.organization, first_name="Ada", full_name="Ada", phone="12"))

    assert response.status_code == 200 and "phone" in response.content.decode()
    contact.refresh_from_db()
    assert contact.phone == "+15035550142"
