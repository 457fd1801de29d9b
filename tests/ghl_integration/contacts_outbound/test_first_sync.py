"""The first sync is two-way: local contacts GHL does not have are matched (email, phone) or pushed, and the
owner sees how many."""
import pytest
from django.urls import reverse

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.contacts.outbound import contacts_push_pending
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.models import GhlConnection

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)


def test_local_only_contacts_are_matched_or_pushed_and_counted(ghl, connected, client, owner):
    # given: before connecting, one local contact GHL also has (same email) and two GHL does not
    org = connected.organization
    ghl_people = ghl.control.objects("contact", location_id=LOCATION_ID)
    twin = contact_create(organization=org, first_name="Twin", email=ghl_people[0]["email"])
    OutboxEntry.objects.all().delete()  # made before the connection pushed anything
    solo = [contact_create(organization=org, first_name=name, email=f"{name.lower()}@local.example")
            for name in ("Solo", "Alone")]
    OutboxEntry.objects.filter(object_id__in=[c.pk for c in solo]).delete()  # as if written before connecting

    # when: the first pull, then the push worker
    contacts_initial_pull(connection=connected)
    contacts_push_pending(connection_id=connected.pk)

    # then: the twin is linked to GHL's contact, not duplicated; the two are created in GHL
    assert ExternalIdentity.objects.get(object_id=twin.pk, account_id=LOCATION_ID).external_id == ghl_people[0]["id"]
    emails = {c.get("email") for c in ghl.control.objects("contact", location_id=LOCATION_ID)}
    assert {"solo@local.example", "alone@local.example"} <= emails
    assert len(emails) == len(ghl_people) + 2
    assert Contact.objects.for_org(org).count() == len(ghl_people) + 2
    client.force_login(owner)
    card = client.get(reverse("ghl_contact_sync_status_card", kwargs={"org_id": org.pk})).content.decode()
    assert "2 contacts that existed only here were sent to GoHighLevel" in card


def test_a_connection_that_does_not_push_keeps_them_and_says_so(ghl, connected, client, owner):
    GhlConnection.objects.filter(pk=connected.pk).update(config={**connected.config, "outbound_contacts": False})
    contact_create(organization=connected.organization, first_name="Solo", email="solo@local.example")

    contacts_initial_pull(connection=GhlConnection.objects.get(pk=connected.pk))

    assert not OutboxEntry.objects.exists()
    client.force_login(owner)
    card = client.get(reverse("ghl_contact_sync_status_card",
                              kwargs={"org_id": connected.organization_id})).content.decode()
    assert "1 contact exists only here: this connection does not send contacts to GoHighLevel." in card


def test_the_demo_after_connecting_is_one_business(ghl, resolver, no_notifier):
    from django.core.management import call_command

    from tenancy.models import Organization
    from tests.factories import sandbox_connect

    # given: make run's demo, then the owner connects the sandbox's demo location
    call_command("seed_demo")
    org = Organization.objects.get(slug="demo-dental")
    connection = sandbox_connect(ghl, organization=org, user=org.memberships.get().user)

    # when: the first sync runs both ways
    contacts_initial_pull(connection=connection)
    contacts_push_pending(connection_id=connection.pk)

    # then: here and in GHL the same people, every one linked, no near-twins
    remote = ghl.control.objects("contact", location_id=LOCATION_ID)
    local = Contact.objects.for_org(org)
    assert sorted(local.values_list("email", flat=True)) == sorted(c.get("email") for c in remote)
    assert sorted(c.full_name for c in local) == sorted(f"{c['firstName']} {c['lastName']}" for c in remote)
    assert ExternalIdentity.objects.filter(organization=org, account_id=LOCATION_ID).count() == local.count()
