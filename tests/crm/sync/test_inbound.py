import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create, contact_update
from crm.sync.conflict import conflict_policy_set
from crm.sync.hashing import content_hash
from crm.sync.inbound import Outcome, RemoteRecord, contact_apply_remote
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.models import OutboxEntry, SyncConflict
from crm.sync.outbox import outbox_claim_batch, outbox_mark_done
from crm.sync.overrides import sync_conflict_override

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def apply(org, external_id="ext-1", remote=None, at=None, **kw):
    return contact_apply_remote(organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                external_id=external_id, remote=remote or {}, remote_updated_at=at, **kw)


def link_of(contact):
    return ExternalIdentity.objects.get(object_id=contact.pk, account_id=ACCOUNT)


# --- matching and creation -------------------------------------------------------------------------

def test_creates_and_links_without_pushing_back(org, targets):
    result = apply(org, remote={"first_name": "Ann", "email": "ANN@x.com", "custom_properties.plan": "gold"}, at=T0)
    assert result.outcome == Outcome.CREATED
    contact = result.contact
    assert contact.full_name == "Ann" and contact.email == "ann@x.com" and contact.custom_properties == {"plan": "gold"}
    link = link_of(contact)
    assert link.external_id == "ext-1" and link.remote_updated_at == T0 and link.connection_id == 1
    assert link.synced_snapshot["custom_properties.plan"] == "gold"
    assert OutboxEntry.objects.count() == 0  # echo suppression part 1


def test_other_accounts_still_receive_the_change(org, targets):
    targets["list"] = [(PROVIDER, ACCOUNT), (PROVIDER, "loc2")]
    apply(org, remote={"first_name": "Ann"})
    assert list(OutboxEntry.objects.values_list("account_id", flat=True)) == ["loc2"]


@pytest.mark.parametrize(
    ("local", "remote"),
    [
        ({"email": "ann@x.com"}, {"email": "Ann@X.com", "first_name": "Ann"}),
        ({"additional_emails": ["ann@x.com"]}, {"email": "ann@x.com"}),
        ({"phone": "+15035550142"}, {"phone": "503-555-0142"}),
        ({"additional_phones": ["+15035550142"]}, {"phone": "+1 503 555 0142"}),
    ],
)
def test_matches_existing_contact_before_creating(org, local, remote):
    existing = contact_create(organization=org, first_name="Ann", **local)
    result = apply(org, remote=remote)
    assert result.outcome == Outcome.LINKED and result.contact.pk == existing.pk
    assert Contact.objects.count() == 1 and link_of(existing).external_id == "ext-1"


def test_link_wins_over_email_and_a_linked_contact_is_not_rematched(org):
    first = apply(org, "ext-1", {"email": "ann@x.com"}).contact
    # a second remote contact with the same email (the remote allows duplicates) is a different person
    second = apply(org, "ext-2", {"email": "ann@x.com"}).contact
    assert second.pk != first.pk
    again = apply(org, "ext-1", {"email": "ann@x.com", "first_name": "Ann"})
    assert again.contact.pk == first.pk and again.outcome == Outcome.UPDATED
    assert Contact.objects.count() == 2


def test_invalid_remote_values_are_dropped_and_reported(org):
    result = apply(org, remote={"first_name": "Ann", "phone": "12"})
    assert result.outcome == Outcome.CREATED and result.contact.phone == "" and "phone" in result.errors


# --- ordering and echo -----------------------------------------------------------------------------

def test_watermark_drops_older_and_equal_events_and_applies_untimed_ones(org):
    contact = apply(org, remote={"city": "Paris"}, at=T0).contact
    assert apply(org, remote={"city": "Rome"}, at=T0 - dt.timedelta(seconds=1)).outcome == Outcome.STALE
    assert apply(org, remote={"city": "Rome"}, at=T0).outcome == Outcome.STALE  # equal is stale
    contact.refresh_from_db()
    assert contact.city == "Paris"
    assert apply(org, remote={"city": "Oslo"}, at=None).outcome == Outcome.UPDATED
    assert link_of(contact).remote_updated_at == T0  # never moves backwards
    assert apply(org, remote={"city": "Lima"}, at=T0 + dt.timedelta(seconds=1)).outcome == Outcome.UPDATED
    contact.refresh_from_db()
    assert contact.city == "Lima" and link_of(contact).remote_updated_at == T0 + dt.timedelta(seconds=1)


def test_our_own_push_coming_back_is_an_echo(org, targets):
    contact = contact_create(organization=org, first_name="Ann", city="Paris")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    pushed = {"first_name": "Ann", "city": "Paris"}
    outbox_mark_done(entry=entry, remote_id="ext-1", remote_values=pushed)
    result = apply(org, remote=pushed, remote_hash=content_hash(pushed), at=T0)
    assert result.outcome == Outcome.ECHO
    assert OutboxEntry.objects.exclude(status="done").count() == 0  # no ping-pong
    assert link_of(contact).remote_updated_at == T0


def test_replaying_the_same_event_is_an_echo(org):
    apply(org, remote={"first_name": "Ann"})
    assert apply(org, remote={"first_name": "Ann"}).outcome == Outcome.ECHO


# --- separately ordered groups (per-channel DND) -----------------------------------------------------
# A DND event (all the record's fields + the per-channel flags) competes only with records that carry the flags;
# an update without them (GHL's ContactUpdate) stamped the same or later does not make it stale.

DND_EVENT = {"first_name": "Ann", "city": "Paris", "dnd_all": False, "dnd_sms": True}


def test_a_dnd_event_stamped_at_the_watermark_applies_its_dnd_flags_and_nothing_else(org, targets):
    contact = apply(org, remote={"first_name": "Ann", "city": "Paris", "dnd_all": False, "dnd_sms": False},
                    at=T0).contact
    at = T0 + dt.timedelta(minutes=1)
    apply(org, remote={"first_name": "Ann", "city": "Rome", "dnd_all": False}, remote_hash="update-hash", at=at)

    result = apply(org, remote=DND_EVENT, remote_hash="dnd-hash", at=at)  # same time; its city is older news

    contact.refresh_from_db()
    assert result.outcome == Outcome.UPDATED and result.changed_fields == {"dnd_sms"}
    assert (contact.dnd_sms, contact.city) == (True, "Rome")
    link = link_of(contact)
    assert link.remote_updated_at == at and link.content_hash == "update-hash"  # the newer state's hash stays
    assert link.group_marks == {"dnd": at.isoformat()} and link.synced_snapshot["dnd_sms"] is True
    assert not OutboxEntry.objects.exists()
    # the flags keep their own order: an older DND state arriving late is stale
    late = apply(org, remote={**DND_EVENT, "dnd_sms": False}, at=at - dt.timedelta(seconds=30))
    contact.refresh_from_db()
    assert late.outcome == Outcome.STALE and contact.dnd_sms is True


def test_a_dnd_change_is_no_echo_when_the_hash_leaves_the_flags_out(org):
    # the provider's hash covers what every event carries, not the per-channel flags
    contact = apply(org, remote={**DND_EVENT, "dnd_sms": False}, remote_hash="same", at=T0).contact
    result = apply(org, remote=DND_EVENT, remote_hash="same", at=T0 + dt.timedelta(seconds=1))
    contact.refresh_from_db()
    assert result.outcome == Outcome.UPDATED and contact.dnd_sms is True
    assert apply(org, remote=DND_EVENT, remote_hash="same", at=T0 + dt.timedelta(seconds=2)).outcome == Outcome.ECHO


def test_a_page_does_not_skip_a_dnd_change_the_hash_leaves_out(org):
    _apply_page(org, [RemoteRecord("ext-1", {**DND_EVENT, "dnd_sms": False}, T0, remote_hash="same")])
    result = _apply_page(org, [RemoteRecord("ext-1", DND_EVENT, T0 + dt.timedelta(minutes=1), remote_hash="same")])
    assert result.counts["updated"] == 1
    contact = Contact.objects.get()
    at = T0 + dt.timedelta(minutes=1)
    assert contact.dnd_sms is True and link_of(contact).group_marks == {"dnd": at.isoformat()}
    assert _apply_page(org, [RemoteRecord("ext-1", DND_EVENT, T0 + dt.timedelta(minutes=2),
                                          remote_hash="same")]).counts["unchanged"] == 1


def test_a_pushed_dnd_state_holds_against_an_older_dnd_event_arriving_late(org, targets):
    contact = apply(org, remote={**DND_EVENT, "dnd_sms": False}, at=T0).contact
    contact_update(contact=contact, dnd_sms=True)  # the contact opted out here
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    outbox_mark_done(entry=entry, remote_values={"dnd_sms": True}, remote_updated_at=T0 + dt.timedelta(minutes=2),
                     remote_values_partial=True)
    assert link_of(contact).group_marks == {"dnd": (T0 + dt.timedelta(minutes=2)).isoformat()}
    # a DND event from before the push (SMS still off in the remote then), behind a newer ContactUpdate
    apply(org, remote={"first_name": "Ann", "city": "Rome"}, at=T0 + dt.timedelta(minutes=3))
    result = apply(org, remote={**DND_EVENT, "dnd_sms": False}, at=T0 + dt.timedelta(minutes=1))
    contact.refresh_from_db()
    assert result.outcome == Outcome.STALE and contact.dnd_sms is True


# --- three-way conflicts ---------------------------------------------------------------------------

def _synced_contact(org, targets):
    """A contact in sync with the remote at T0 (city Paris, tags a/b)."""
    contact = apply(org, remote={"city": "Paris", "tags": ["a", "b"], "first_name": "Ann"}, at=T0).contact
    return contact


def test_remote_only_change_applies_without_conflict(org, targets):
    contact = _synced_contact(org, targets)
    result = apply(org, remote={"city": "Rome", "tags": ["a", "b"]}, at=T0 + dt.timedelta(minutes=1))
    assert result.outcome == Outcome.UPDATED and result.conflicts == [] and result.changed_fields == {"city"}
    contact.refresh_from_db()
    assert contact.city == "Rome"


def test_local_only_change_is_kept_and_pushed(org, targets):
    contact = _synced_contact(org, targets)
    contact_update(contact=contact, city="Berlin")
    result = apply(org, remote={"city": "Paris"}, at=T0 + dt.timedelta(minutes=1))
    contact.refresh_from_db()
    assert contact.city == "Berlin" and result.conflicts == [] and result.pushed_fields == ["city"]
    assert "city" in OutboxEntry.objects.get(status="pending").changed_fields


@pytest.mark.parametrize(
    ("policy", "remote_offset", "expected_city", "decision"),
    [
        ("remote_wins", -60, "Rome", "remote"),
        ("local_wins", 60, "Berlin", "local"),
        ("newest_wins", 3600, "Rome", "remote"),
        ("newest_wins", -3600, "Berlin", "local"),
    ],
)
def test_both_changed_policy_decides_and_conflict_is_recorded(org, targets, policy, remote_offset,
                                                              expected_city, decision):
    contact = _synced_contact(org, targets)
    conflict_policy_set(organization=org, provider=PROVIDER, account_id=ACCOUNT, field="city", policy=policy)
    contact_update(contact=contact, city="Berlin")
    contact.refresh_from_db()
    remote_at = contact.updated_at + dt.timedelta(seconds=remote_offset)
    result = apply(org, remote={"city": "Rome"}, at=max(remote_at, T0 + dt.timedelta(seconds=1)))
    contact.refresh_from_db()
    assert contact.city == expected_city
    [conflict] = SyncConflict.objects.all()
    assert (conflict.field, conflict.base_value, conflict.local_value, conflict.remote_value) == (
        "city", "Paris", "Berlin", "Rome")
    assert conflict.policy == policy and conflict.decision == decision and result.conflicts
    pending = OutboxEntry.objects.filter(status="pending", account_id=ACCOUNT).first()
    assert (pending is not None and "city" in pending.changed_fields) == (decision == "local")


def test_newest_wins_compares_each_fields_own_edit_time(org, targets):
    # given: first_name edited here, then GHL changed both fields, then city edited here
    from unittest import mock

    from django.utils import timezone

    contact = _synced_contact(org, targets)
    first_edit = timezone.now()
    with mock.patch("crm.sync.outbox.timezone.now", return_value=first_edit):
        contact_update(contact=contact, first_name="Annie")
    remote_at = first_edit + dt.timedelta(minutes=5)
    with mock.patch("crm.sync.outbox.timezone.now", return_value=first_edit + dt.timedelta(minutes=10)):
        contact_update(contact=contact, city="Berlin")

    # when
    result = apply(org, remote={"first_name": "Anna", "city": "Rome"}, at=remote_at)

    # then: the contact's last save (10 min) does not decide first_name: its own edit (0 min) is older
    contact.refresh_from_db()
    assert (contact.first_name, contact.city) == ("Anna", "Berlin")
    decisions = dict(SyncConflict.objects.values_list("field", "decision"))
    assert decisions == {"first_name": "remote", "city": "local"}
    assert SyncConflict.objects.get(field="first_name").local_changed_at == first_edit
    pending = OutboxEntry.objects.get(status="pending", account_id=ACCOUNT)
    assert "city" in pending.changed_fields and "first_name" not in pending.changed_fields
    assert len(result.conflicts) == 2


def test_a_push_back_does_not_make_the_local_value_newer(org, targets):
    # given: the user's edit of the city, stamped with its time
    contact = _synced_contact(org, targets)
    conflict_policy_set(organization=org, provider=PROVIDER, account_id=ACCOUNT, field="city", policy="local_wins")
    contact_update(contact=contact, city="Berlin")
    edited_at = OutboxEntry.objects.get(status="pending", account_id=ACCOUNT).field_changed_at["city"]

    # when: GHL changes it too, local wins, and the local value is queued back to GHL
    result = apply(org, remote={"city": "Rome"}, at=T0 + dt.timedelta(seconds=1))
    assert result.pushed_fields == ["city"]

    # then: the city's edit time is still the user's edit, not the push-back's
    assert OutboxEntry.objects.get(status="pending", account_id=ACCOUNT).field_changed_at["city"] == edited_at


def test_tags_changed_on_both_sides_merge(org, targets):
    contact = _synced_contact(org, targets)
    contact_update(contact=contact, tags=["a", "b", "local"])
    apply(org, remote={"tags": ["a", "b", "remote"]}, at=T0 + dt.timedelta(minutes=1))
    contact.refresh_from_db()
    assert contact.tags == ["a", "b", "local", "remote"]
    assert SyncConflict.objects.get().decision == "merged"
    assert "tags" in OutboxEntry.objects.get(status="pending").changed_fields  # the remote lacks "local"


def test_admin_override_applies_the_value(org, targets):
    contact = _synced_contact(org, targets)
    conflict_policy_set(organization=org, provider=PROVIDER, account_id=ACCOUNT, field="city", policy="remote_wins")
    contact_update(contact=contact, city="Berlin")
    apply(org, remote={"city": "Rome"}, at=T0 + dt.timedelta(minutes=1))
    OutboxEntry.objects.update(status="done")
    conflict = SyncConflict.objects.get()
    user = get_user_model().objects.create_user("staff", password="pw-123456789")

    sync_conflict_override(conflict=conflict, side="local", user=user)

    contact.refresh_from_db()
    conflict.refresh_from_db()
    assert contact.city == "Berlin" and conflict.override_decision == "local" and conflict.overridden_by == user
    assert "city" in OutboxEntry.objects.get(status="pending", account_id=ACCOUNT).changed_fields
    OutboxEntry.objects.update(status="done")
    sync_conflict_override(conflict=conflict, side="remote")
    contact.refresh_from_db()
    assert contact.city == "Rome" and not OutboxEntry.objects.filter(status="pending").exists()


def test_admin_action_applies_remote_value(org, targets, admin_client):
    contact = _synced_contact(org, targets)
    conflict_policy_set(organization=org, provider=PROVIDER, account_id=ACCOUNT, field="city", policy="local_wins")
    contact_update(contact=contact, city="Berlin")
    apply(org, remote={"city": "Rome"}, at=T0 + dt.timedelta(minutes=1))
    conflict = SyncConflict.objects.get()
    response = admin_client.post("/admin/crm/syncconflict/", {
        "action": "apply_remote_value", "_selected_action": [conflict.pk]})
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.city == "Rome"
    assert admin_client.get("/admin/crm/syncconflict/").status_code == 200
    for model in ("outboxentry", "fieldmapping", "conflictpolicy", "syncrun"):
        assert admin_client.get(f"/admin/crm/{model}/").status_code == 200


# --- deletes ---------------------------------------------------------------------------------------

def test_remote_delete_archives_never_destroys(org, targets):
    contact = _synced_contact(org, targets)
    result = apply(org, deleted=True, at=T0 + dt.timedelta(minutes=1))
    assert result.outcome == Outcome.ARCHIVED
    contact.refresh_from_db()
    assert contact.is_archived and Contact.objects.filter(pk=contact.pk).exists()
    assert not OutboxEntry.objects.filter(account_id=ACCOUNT).exists()
    assert apply(org, "never-seen", deleted=True).outcome == Outcome.IGNORED


# --- bulk pages ------------------------------------------------------------------------------------

def _page(n, start=0):
    return [
        RemoteRecord(f"ext-{i}", {"first_name": f"P{i}", "email": f"p{i}@x.com", "custom_properties.n": i},
                     T0 + dt.timedelta(seconds=i))
        for i in range(start, start + n)
    ]


def _apply_page(org, records):
    return contact_apply_remote_page(organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                     records=records)


def test_page_creates_in_bulk_and_rerun_is_idempotent(org, targets, django_assert_max_num_queries):
    with django_assert_max_num_queries(14):
        result = _apply_page(org, _page(100))
    assert result.counts["created"] == 100
    assert Contact.objects.count() == 100 and ExternalIdentity.objects.count() == 100
    assert Contact.objects.get(email="p7@x.com").custom_properties == {"n": 7}

    # a crash after the page committed: the page runs again
    again = _apply_page(org, _page(100))
    assert again.counts["unchanged"] == 100 and again.counts["created"] == 0
    assert Contact.objects.count() == 100 and ExternalIdentity.objects.count() == 100
    assert not OutboxEntry.objects.exists()


def test_page_matches_existing_contacts_and_handles_updates_and_deletes(org):
    by_email = contact_create(organization=org, first_name="Old", email="p1@x.com")
    by_extra = contact_create(organization=org, first_name="Extra", additional_emails=["p2@x.com"])
    _apply_page(org, _page(2, start=5))  # ext-5, ext-6 exist now
    records = _page(3) + [
        RemoteRecord("ext-5", {"first_name": "Renamed"}, T0 + dt.timedelta(hours=1)),
        RemoteRecord("ext-6", {}, T0 + dt.timedelta(hours=1), deleted=True),
    ]
    result = _apply_page(org, records)
    assert result.counts["linked"] == 2 and result.counts["created"] == 1
    assert result.counts["updated"] == 1 and result.counts["archived"] == 1
    assert link_of(by_email).external_id == "ext-1" and link_of(by_extra).external_id == "ext-2"
    assert Contact.objects.count() == 5
    assert Contact.objects.get(email="p5@x.com").first_name == "Renamed"
    assert Contact.objects.get(email="p6@x.com").is_archived


def test_page_matching_follows_the_single_record_rules(org, org_factory):
    """Email before phone, a main value before an additional one, the oldest contact among equals; never a
    linked, archived or other organisation's contact."""
    from crm.services.contacts import contact_archive

    def create(name, **fields):
        return contact_create(organization=org, first_name=name, **fields)

    oldest_email = create("OldestEmail", email="dup@x.com")
    create("NewerEmail", email="dup@x.com")
    by_phone = create("Phone", phone="+15035550101")
    by_more_phone = create("MorePhone", additional_phones=["+15035550102"])
    main_beats_more = create("MainEmail", email="both@x.com")
    create("MoreEmail", additional_emails=["both@x.com"])  # older than nothing: the main email wins anyway
    email_beats_phone = create("EmailOwner", email="ep@x.com")
    create("PhoneOwner", phone="+15035550103")
    linked = create("Linked", email="linked@x.com")
    _apply_page(org, [RemoteRecord("ext-linked", {"email": "linked@x.com"}, T0)])
    archived = create("Archived", email="archived@x.com")
    contact_archive(contact=archived)
    contact_create(organization=org_factory(), first_name="Elsewhere", email="other-org@x.com")

    result = _apply_page(org, [
        RemoteRecord("r-dup", {"email": "dup@x.com"}, T0),
        RemoteRecord("r-phone", {"phone": "+1 503 555 0101"}, T0),
        RemoteRecord("r-more-phone", {"phone": "+15035550102"}, T0),
        RemoteRecord("r-both", {"email": "both@x.com"}, T0),
        RemoteRecord("r-ep", {"email": "ep@x.com", "phone": "+15035550103"}, T0),
        RemoteRecord("r-linked", {"email": "linked@x.com"}, T0),
        RemoteRecord("r-archived", {"email": "archived@x.com"}, T0),
        RemoteRecord("r-other-org", {"email": "other-org@x.com"}, T0),
    ])

    def linked_to(external_id):
        return Contact.objects.get(pk=ExternalIdentity.objects.get(external_id=external_id).object_id)

    assert linked_to("r-dup") == oldest_email
    assert linked_to("r-phone") == by_phone and linked_to("r-more-phone") == by_more_phone
    assert linked_to("r-both") == main_beats_more and linked_to("r-ep") == email_beats_phone
    for new in ("r-linked", "r-archived", "r-other-org"):
        contact = linked_to(new)
        assert contact.organization == org and contact not in (linked, archived)
    assert result.counts["linked"] == 5 and result.counts["created"] == 3


def test_a_late_webhook_older_than_our_push_does_not_undo_it(org, targets):
    contact = _synced_contact(org, targets)  # remote at T0: city Paris
    contact_update(contact=contact, city="Berlin")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    outbox_mark_done(entry=entry, remote_values={"city": "Berlin"}, remote_updated_at=T0 + dt.timedelta(minutes=2))
    # a webhook about an edit made in the remote before our push arrives late
    result = apply(org, remote={"city": "Paris", "first_name": "Ann"}, at=T0 + dt.timedelta(minutes=1))
    contact.refresh_from_db()
    assert result.outcome == Outcome.STALE and contact.city == "Berlin"


def test_one_custom_field_update_keeps_the_others(org):
    contact = apply(org, remote={"custom_properties.plan": "gold", "custom_properties.seats": 3}, at=T0).contact
    contact_update(contact=contact, custom_properties={**contact.custom_properties, "local_only": "x"})
    apply(org, remote={"custom_properties.plan": "silver"}, at=T0 + dt.timedelta(minutes=1))
    contact.refresh_from_db()
    assert contact.custom_properties == {"plan": "silver", "seats": 3, "local_only": "x"}
