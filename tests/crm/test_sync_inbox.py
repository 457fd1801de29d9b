"""The conflicts and errors inbox: conflicts with the contact's name, both values, keep ours / keep GHL's;
refused values with the contact and the reason."""
import pytest
from django.contrib.contenttypes.models import ContentType

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create
from crm.sync.models import FieldMapping, OutboxEntry, SyncConflict, SyncRun
from crm.sync.targets import register_target_resolver, unregister_target_resolver
from tenancy.models import Membership
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory("Bright Smiles")


@pytest.fixture
def targets():
    register_target_resolver("test-inbox", lambda organization_id: [("ghl", "loc1")])
    yield
    unregister_target_resolver("test-inbox")


@pytest.fixture
def owner_client(client, org):
    client.force_login(org.memberships.get().user)
    return client


def _conflict(org, contact, **fields):
    return SyncConflict.objects.create(
        organization=org, provider="ghl", account_id="loc1", content_type=ContentType.objects.get_for_model(Contact),
        object_id=contact.pk, field="city", local_value="Portland", remote_value="Salem", applied_value="Salem",
        policy="remote_wins", decision="remote", **fields)


def test_a_conflict_shows_the_contact_both_values_and_the_decision(owner_client, org):
    jane = contact_create(organization=org, first_name="Jane", last_name="Doe", city="Salem")
    _conflict(org, jane)

    page = owner_client.get(f"/orgs/{org.pk}/sync/inbox/").content.decode()

    assert f'href="/orgs/{org.pk}/contacts/{jane.pk}/">Jane Doe</a>' in page
    assert '<td class="value-ours">Portland</td>' in page and '<td class="value-theirs">Salem</td>' in page
    assert "Remote value applied" in page and "Keep ours" in page and "Keep GoHighLevel's" in page


def test_keep_ours_writes_our_value_and_queues_it_for_ghl(owner_client, org, targets):
    jane = contact_create(organization=org, first_name="Jane", city="Salem")
    conflict = _conflict(org, jane)
    OutboxEntry.objects.all().delete()

    response = owner_client.post(f"/orgs/{org.pk}/sync/conflicts/{conflict.pk}/resolve/", {"side": "local"},
                                 follow=True)

    jane.refresh_from_db()
    conflict.refresh_from_db()
    assert jane.city == "Portland" and conflict.override_decision == "local"
    assert any("city" in entry.changed_fields for entry in OutboxEntry.objects.filter(object_id=jane.pk))
    assert "City of Jane: kept ours." in response.content.decode()


def test_keep_ghls_writes_their_value(owner_client, org):
    jane = contact_create(organization=org, first_name="Jane", city="Portland")
    conflict = _conflict(org, jane)

    owner_client.post(f"/orgs/{org.pk}/sync/conflicts/{conflict.pk}/resolve/", {"side": "remote"})

    jane.refresh_from_db()
    assert jane.city == "Salem"


def test_refused_values_name_the_contact_and_the_reason(owner_client, org):
    content_type = ContentType.objects.get_for_model(Contact)
    jane = contact_create(organization=org, first_name="Jane")
    bob = contact_create(organization=org, first_name="Bob")
    OutboxEntry.objects.all().delete()
    dead = OutboxEntry.objects.create(organization=org, provider="ghl", account_id="loc1", content_type=content_type,
                                      object_id=jane.pk, status="dead", last_error="GHL rejected the contact: phone")
    ExternalIdentity.objects.create(organization=org, provider="ghl", account_id="loc1", external_id="g-bob",
                                    content_type=content_type, object_id=bob.pk)
    SyncRun.objects.create(organization=org, provider="ghl", account_id="loc1", kind="reconcile", refused=2,
                           refusal_samples=[{"external_id": "g-bob", "error": "country: “Narnia” is not a country"},
                                            {"external_id": "g-new", "error": "email: not an email"}])
    FieldMapping.objects.create(organization=org, provider="ghl", account_id="loc1", remote_key="phone",
                                local_field="phone", last_error="Jane (contact 1): not a phone")

    page = owner_client.get(f"/orgs/{org.pk}/sync/inbox/").content.decode()

    assert "Jane</a>" in page and "GHL rejected the contact: phone" in page and "not sent to GoHighLevel" in page
    assert "Bob</a>" in page and "“Narnia” is not a country" in page
    assert "GoHighLevel contact g-new (not stored here)" in page
    assert "phone → phone: Jane (contact 1): not a phone" in page
    response = owner_client.post(f"/orgs/{org.pk}/sync/changes/{dead.pk}/retry/")
    dead.refresh_from_db()
    assert response.status_code == 302 and dead.status == "pending"


def test_an_empty_inbox_says_so(owner_client, org):
    page = owner_client.get(f"/orgs/{org.pk}/sync/inbox/").content.decode()
    assert "No conflicts: both sides agree." in page and "Nothing refused." in page


def test_only_owners_and_admins_and_only_their_organization(client, org, org_factory):
    other = org_factory("Elsewhere")
    theirs = _conflict(other, contact_create(organization=other, first_name="Stranger"))
    client.force_login(MembershipFactory(organization=org, role=Membership.Role.MEMBER).user)
    assert client.get(f"/orgs/{org.pk}/sync/inbox/").status_code == 403

    client.force_login(org.memberships.get(role="owner").user)
    assert "Stranger" not in client.get(f"/orgs/{org.pk}/sync/inbox/").content.decode()
    assert client.post(f"/orgs/{org.pk}/sync/conflicts/{theirs.pk}/resolve/", {"side": "local"}).status_code == 404
