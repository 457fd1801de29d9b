"""The push worker against the sandbox: create, link, update, tags, deletes, GHL's quirks."""
import pytest

from crm.models import ExternalIdentity
from crm.services.contacts import contact_archive, contact_create, contact_update
from crm.sync.models import FieldMapping, OutboxEntry, SyncConflict
from ghl_integration.models import GhlConnection
from ghl_integration.sync.push import outbox_push_pending

from .conftest import LOCATION_ID, contact_writes, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)


def push(connection) -> dict:
    return outbox_push_pending(connection_id=connection.pk)


def link_of(contact) -> ExternalIdentity:
    return ExternalIdentity.objects.get(provider="ghl", account_id=LOCATION_ID, object_id=contact.pk)


def test_a_new_local_contact_is_created_in_ghl_and_linked(ghl, connected):
    # given
    contact = contact_create(organization=connected.organization, first_name="Ada", last_name="Lovelace",
                             email="ada@example.com", phone="+15035550142", tags=["VIP"])
    # when
    counts = push(connected)
    # then
    assert counts["created"] == 1
    remote = ghl_contact(ghl, link_of(contact).external_id)
    assert (remote["firstName"], remote["email"], remote["phone"]) == ("Ada", "ada@example.com", "+15035550142")
    assert remote["tags"] == ["vip"]
    contact.refresh_from_db()
    assert contact.tags == ["vip"]  # GHL's spelling, so its echo is not a change
    assert [(r["method"], r["path"]) for r in contact_writes(ghl)] == [("POST", "/contacts/")]
    assert OutboxEntry.objects.get().status == "done"
    assert link_of(contact).content_hash


def test_an_update_sends_only_the_changed_fields(ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Ada", email="ada@example.com",
                             city="London")
    push(connected)
    ghl.control.clear_request_log()

    contact_update(contact=contact, last_name="King")
    push(connected)

    writes = contact_writes(ghl)
    assert [(r["method"], r["path"].split("/")[1]) for r in writes] == [("PUT", "contacts")]
    assert ghl_contact(ghl, link_of(contact).external_id)["lastName"] == "King"
    assert ghl_contact(ghl, link_of(contact).external_id)["city"] == "London"


def test_a_duplicate_create_links_to_the_existing_ghl_contact_and_updates_it(ghl, connected):
    # given: GHL already has this person (the demo location refuses duplicates)
    existing = ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Grace",
                                          email="grace@example.com")
    existing_id = existing.get("id") or existing["contact"]["id"]
    ghl.control.clear_request_log()
    contact = contact_create(organization=connected.organization, first_name="Grace", last_name="Hopper",
                             email="grace@example.com", tags=["navy"])
    # when
    counts = push(connected)
    # then
    assert counts["linked"] == 1 and counts["failed"] == 0
    assert link_of(contact).external_id == existing_id
    remote = ghl_contact(ghl, existing_id)
    assert remote["lastName"] == "Hopper" and remote["tags"] == ["navy"]
    statuses = [(r["method"], r["status"]) for r in contact_writes(ghl)]
    assert statuses[0] == ("POST", 400) and ("PUT", 200) in statuses
    assert len([c for c in ghl.control.objects("contact", location_id=LOCATION_ID)
                if c.get("email") == "grace@example.com"]) == 1


def test_upsert_ignoring_a_phone_of_another_contact_is_recorded(ghl, connected):
    # given: the location matches on email; the phone we send belongs to another GHL contact
    connected.config = {**connected.config, "contact_create_mode": "upsert"}
    connected.save(update_fields=["config"])
    ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Phone", phone="+15035550199")
    ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Mail", email="mail@example.com")
    contact = contact_create(organization=connected.organization, first_name="Mail", email="mail@example.com",
                             phone="+15035550199")
    # when
    push(connected)
    # then: nothing pretends the phone was written
    remote = ghl_contact(ghl, link_of(contact).external_id)
    assert remote["phone"] != "+15035550199"
    conflict = SyncConflict.objects.get(field="phone")
    assert conflict.local_value == "+15035550199" and conflict.object_id == contact.pk
    assert "phone" not in link_of(contact).synced_snapshot


def test_tags_go_through_add_and_remove_and_a_tag_added_in_ghl_survives(ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Tag", email="tag@example.com",
                             tags=["a", "b"])
    push(connected)
    ghl_id = link_of(contact).external_id
    # a GHL user adds a tag (its webhook not yet applied here) while we change ours
    ghl.control.change_contact("tags", contactId=ghl_id, add=["from-ghl"])
    ghl.control.clear_request_log()
    contact_update(contact=contact, tags=["a", "c"])

    push(connected)

    writes = contact_writes(ghl)
    assert all(r["path"].endswith("/tags") for r in writes), writes
    assert sorted(ghl_contact(ghl, ghl_id)["tags"]) == ["a", "c", "from-ghl"]
    contact.refresh_from_db()
    assert sorted(contact.tags) == ["a", "c", "from-ghl"]
    assert OutboxEntry.objects.filter(status="pending").count() == 0  # taking GHL's tags queued nothing back


def test_archive_keeps_the_ghl_contact_by_default(ghl, connected):
    contact = contact_create(organization=connected.organization, first_name="Keep", email="keep@example.com")
    push(connected)
    ghl.control.clear_request_log()
    contact_archive(contact=contact)
    push(connected)
    assert contact_writes(ghl) == []
    assert ghl_contact(ghl, link_of(contact).external_id)["email"] == "keep@example.com"


def test_archive_deletes_in_ghl_when_the_policy_says_so(ghl, connected):
    GhlConnection.objects.filter(pk=connected.pk).update(config={"delete_policy": "delete"})
    contact = contact_create(organization=connected.organization, first_name="Gone", email="gone@example.com")
    push(connected)
    ghl_id = link_of(contact).external_id
    contact_archive(contact=contact)
    counts = push(connected)
    assert counts["deleted"] == 1
    assert [r["method"] for r in contact_writes(ghl)][-1] == "DELETE"
    assert ghl_id not in {c["id"] for c in ghl.control.objects("contact", location_id=LOCATION_ID)}


def test_a_field_ghl_rejects_fails_without_retry_and_marks_the_mapping(ghl, connected):
    # given: a custom field key GHL does not know (the sandbox answers 400 for unknown custom fields)
    FieldMapping.objects.create(organization=connected.organization, provider="ghl", account_id=LOCATION_ID,
                                remote_key="customFields.no_such_field", local_field="custom_properties.plan")
    contact = contact_create(organization=connected.organization, first_name="Plan", email="plan@example.com",
                             custom_properties={"plan": "gold"})
    # when
    push(connected)
    # then
    entry = OutboxEntry.objects.get()
    assert entry.status == "dead" and "GHL rejected" in entry.last_error
    row = FieldMapping.objects.get(remote_key="customFields.no_such_field")
    assert row.last_error.startswith(f"Plan (contact {contact.pk}): GHL rejected this field")  # names the contact


def test_custom_fields_are_written_by_key_and_read_back_by_id(ghl, connected):
    fields = {f["fieldKey"]: f for f in ghl.control.objects("customField", location_id=LOCATION_ID)}
    dentist = fields["contact.preferred_dentist"]
    # the row loaded when connecting, pointed at another property
    FieldMapping.objects.filter(account_id=LOCATION_ID, remote_key=f"customFields.{dentist['id']}").update(
        local_field="custom_properties.dentist")
    contact = contact_create(organization=connected.organization, first_name="Cf", email="cf@example.com",
                             custom_properties={"dentist": "Dr. Who"})
    push(connected)
    remote = ghl_contact(ghl, link_of(contact).external_id)
    assert {"id": dentist["id"], "value": "Dr. Who"} in remote["customFields"]
    assert link_of(contact).synced_snapshot["custom_properties.dentist"] == "Dr. Who"
