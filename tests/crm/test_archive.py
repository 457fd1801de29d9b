import pytest

from crm.models import Contact
from crm.services.contacts import contact_archive, contact_create, contact_unarchive


@pytest.mark.django_db
def test_deleting_archives_and_never_destroys(org_factory):
    org = org_factory()
    contact = contact_create(organization=org, first_name="Keep", email="keep@example.com")

    with pytest.raises(TypeError):
        contact.delete()
    with pytest.raises(TypeError):
        Contact.objects.for_org(org).delete()

    contact_archive(contact=contact)
    contact.refresh_from_db()
    assert contact.is_archived and contact.archived_at is not None
    assert Contact.objects.for_org(org).count() == 1
    assert Contact.objects.for_org(org).active().count() == 0

    contact_unarchive(contact=contact)
    assert Contact.objects.for_org(org).active().count() == 1


@pytest.mark.django_db
def test_admin_offers_archive_not_delete(admin_client, org_factory):
    org = org_factory()
    contact = contact_create(organization=org, first_name="Admin", email="admin-test@example.com")
    page = admin_client.get("/admin/crm/contact/").content.decode()
    assert "archive_selected" in page
    assert "delete_selected" not in page

    admin_client.post("/admin/crm/contact/", {"action": "archive_selected", "_selected_action": [contact.pk]})
    contact.refresh_from_db()
    assert contact.is_archived
