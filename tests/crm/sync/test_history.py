"""The inbound half of a contact's sync history (`RemoteChange`): what each apply from a remote records, the
page's summary of bulk-created contacts, the contact page showing it (owners and members), scoping, retention."""
import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Contact
from crm.services.contacts import contact_update
from crm.sync.conflict import conflict_policy_set
from crm.sync.history import remote_changes_prune
from crm.sync.inbound import RemoteRecord, contact_apply_remote
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.models import RemoteChange
from tenancy.models import Membership
from tests.factories import MembershipFactory

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def apply(org, external_id="ext-1", remote=None, at=None, **kw):
    return contact_apply_remote(organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                external_id=external_id, remote=remote or {}, remote_updated_at=at, **kw)


def page(org, records, source=RemoteChange.Source.PULL):
    return contact_apply_remote_page(organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                     records=records, source=source)


def history(contact):
    return list(RemoteChange.objects.filter(object_id=contact.pk).order_by("id"))


def detail(client, org, contact) -> str:
    response = client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_webhook_update_records_each_changed_field_with_old_and_new_values(org):
    # given: a contact GHL sent at T0
    contact = apply(org, remote={"first_name": "Ann", "city": "Paris", "dnd_sms": False}, at=T0, live=True).contact

    # when: GHL changes the city and switches SMS off, and sends an unchanged name
    apply(org, remote={"first_name": "Ann", "city": "Rome", "dnd_sms": True}, at=T0 + dt.timedelta(minutes=1),
          live=True)

    # then
    created, updated = history(contact)
    assert (created.source, created.outcome) == ("webhook", "created")
    assert created.changes["city"] == [None, "Paris"]
    assert (updated.source, updated.outcome, updated.external_id) == ("webhook", "updated", "ext-1")
    assert updated.changes == {"city": ["Paris", "Rome"], "dnd_sms": [False, True]}
    assert updated.remote_updated_at == T0 + dt.timedelta(minutes=1) and updated.organization_id == org.pk


def test_an_apply_that_changes_nothing_records_nothing_and_a_conflict_records_its_decision(org):
    contact = apply(org, remote={"city": "Paris"}, at=T0).contact
    apply(org, remote={"city": "Paris"}, at=T0 + dt.timedelta(minutes=1))  # the same values again
    assert len(history(contact)) == 1

    # both sides changed the city; local wins
    conflict_policy_set(organization=org, provider=PROVIDER, account_id=ACCOUNT, field="city", policy="local_wins")
    contact_update(contact=contact, city="Berlin")
    apply(org, remote={"city": "Rome", "first_name": "Annie"}, at=T0 + dt.timedelta(minutes=2))

    last = history(contact)[-1]
    assert (last.source, last.outcome) == ("read", "updated")
    assert last.changes == {"first_name": ["", "Annie"]}
    assert last.conflicts == [{"field": "city", "decision": "local"}]


def test_a_remote_delete_records_the_archive(org):
    contact = apply(org, remote={"first_name": "Ann"}, at=T0).contact
    apply(org, deleted=True, at=T0 + dt.timedelta(minutes=1), live=True)
    last = history(contact)[-1]
    assert (last.outcome, last.changes) == ("archived", {"is_archived": [False, True]})


def test_a_pull_page_records_its_creates_as_one_summary_and_its_updates_one_by_one(org):
    # given: one contact already linked
    linked = apply(org, external_id="old", remote={"first_name": "Old", "city": "Paris"}, at=T0).contact

    # when: a pull page creates 3 contacts and updates the linked one
    new = [RemoteRecord(f"n{i}", {"first_name": f"New{i}", "email": f"n{i}@x.com"}, T0) for i in range(3)]
    page(org, [*new, RemoteRecord("old", {"first_name": "Old", "city": "Lyon"}, T0 + dt.timedelta(minutes=1))])

    # then: one summary row for the three, whose moment is their created_at; one row for the update
    [summary] = RemoteChange.objects.filter(object_id__isnull=True)
    assert (summary.source, summary.outcome, summary.count) == ("pull", "created", 3)
    assert set(Contact.objects.filter(first_name__startswith="New").values_list("created_at", flat=True)) == {
        summary.applied_at}
    update = history(linked)[-1]
    assert (update.source, update.changes) == ("pull", {"city": ["Paris", "Lyon"]})
    assert RemoteChange.objects.count() == 3  # the first create, the summary, the update


def test_the_contact_page_shows_inbound_changes_to_owners_and_members(client, org):
    # given: a contact a pull created, then a webhook and a reconciliation changed
    page(org, [RemoteRecord("g1", {"first_name": "Ann", "city": "Paris", "email": "ann@x.com", "dnd_email": False},
                            T0)])
    contact = Contact.objects.get(email="ann@x.com")
    apply(org, external_id="g1", remote={"city": "Rome", "dnd_email": True}, at=T0 + dt.timedelta(minutes=1),
          live=True)
    page(org, [RemoteRecord("g1", {"city": "Oslo", "dnd_email": True}, T0 + dt.timedelta(minutes=2))],
         source=RemoteChange.Source.RECONCILE)

    for user in (org.memberships.get().user, MembershipFactory(organization=org, role=Membership.Role.MEMBER).user):
        client.force_login(user)
        html = detail(client, org, contact)

        # then: newest first, with where each came from and the values
        section = html[html.index('id="contact-inbound-history"'):]
        reconcile, webhook, pulled = (section.index(s) for s in ("Reconciliation", "Webhook", "Initial pull"))
        assert reconcile < webhook < pulled
        assert "City: Rome → Oslo" in section
        assert "City: Paris → Rome" in section and "DND: email: No → Yes" in section, section
        assert "Created here" in section, section


def test_another_organizations_history_is_not_shown(client, org, org_factory):
    # given: another organisation's page of creates written at the very moment of ours
    other = org_factory("Elsewhere")
    page(org, [RemoteRecord("g1", {"first_name": "Ann", "email": "ann@x.com"}, T0)])
    contact = Contact.objects.get(email="ann@x.com")
    mine = RemoteChange.objects.get(organization=org, object_id__isnull=True)
    RemoteChange.objects.filter(pk=mine.pk).update(organization=other)
    client.force_login(org.memberships.get().user)

    # then: the summary is not this organisation's, so the page shows no creation
    assert 'id="contact-inbound-history"' not in detail(client, org, contact)
    # and the other organisation cannot open the contact at all
    client.force_login(other.memberships.get().user)
    assert client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").status_code in (403, 404)


def test_history_is_pruned_after_its_retention(org, settings):
    settings.CRM_SYNC_HISTORY_RETENTION_DAYS = 30
    contact = apply(org, remote={"first_name": "Ann"}, at=T0).contact
    apply(org, remote={"first_name": "Annie"}, at=T0 + dt.timedelta(minutes=1))
    old, recent = history(contact)
    RemoteChange.objects.filter(pk=old.pk).update(applied_at=timezone.now() - dt.timedelta(days=31))

    assert remote_changes_prune() == 1
    assert history(contact) == [recent]


def test_a_push_workers_read_that_takes_a_remote_only_change_records_it(org):
    from crm.sync.outbound import record_take_remote_only_changes

    contact = apply(org, remote={"first_name": "Ann", "city": "Paris"}, at=T0).contact

    taken = record_take_remote_only_changes(obj=contact, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                            remote={"first_name": "Ann", "city": "Rome"}, exclude=set())

    assert taken == {"city": "Rome"}
    last = history(contact)[-1]
    assert (last.source, last.outcome, last.changes) == ("read", "updated", {"city": ["Paris", "Rome"]})
