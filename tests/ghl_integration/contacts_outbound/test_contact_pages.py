"""The owner's contact pages write through the services: what is typed there reaches GHL (the sandbox)."""
import pytest

from crm.models import Contact, ExternalIdentity
from ghl_integration.contacts.outbound import contacts_push_pending

from .conftest import LOCATION_ID, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_contact_added_then_edited_on_the_page_is_in_ghl(client, ghl, connected, owner):
    org = connected.organization
    client.force_login(owner)

    # when: the owner adds a contact on the page
    client.post(f"/orgs/{org.pk}/contacts/new/", {"first_name": "Ada", "email": "ada@example.com",
                                                   "phone": "503 555 0142", "tags": "vip"})
    contacts_push_pending(connection_id=connected.pk)
    contact = Contact.objects.for_org(org).get(email="ada@example.com")
    remote_id = ExternalIdentity.objects.get(provider="ghl", account_id=LOCATION_ID, object_id=contact.pk).external_id
    # then
    remote = ghl_contact(ghl, remote_id)
    assert (remote["firstName"], remote["phone"], remote["tags"]) == ("Ada", "+15035550142", ["vip"])

    # when: the owner edits its city and switches SMS off
    client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", {
        "first_name": "Ada", "initial-first_name": "Ada", "email": "ada@example.com",
        "initial-email": "ada@example.com", "city": "London", "initial-city": "", "dnd_sms": "on",
        "initial-dnd_sms": "False"})
    contacts_push_pending(connection_id=connected.pk)

    # then
    remote = ghl_contact(ghl, remote_id)
    assert remote["city"] == "London"
    assert remote["dndSettings"]["SMS"]["status"] == "active"
    page = client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").content.decode()
    assert ">Synced<" in page and remote_id in page
