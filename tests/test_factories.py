"""The factories make rows the product could have made."""
import pytest
from django.db import connection as db_connection
from django.utils import timezone

from crm.sync.models import OutboxEntry
from ghl_integration.connections import USE_MARGIN
from tenancy.models import Membership
from tests.factories import (
    PASSWORD,
    ContactFactory,
    GhlConnectionFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_an_organization_comes_with_its_owner(client):
    org = OrganizationFactory(name="Clinic", default_phone_region="GB")
    (membership,) = org.memberships.all()
    assert membership.role == Membership.Role.OWNER
    assert (org.name, org.slug, org.default_phone_region) == ("Clinic", "clinic", "GB")
    assert client.login(username=membership.user.username, password=PASSWORD)


def test_a_membership_adds_a_member_to_an_existing_organization():
    org = OrganizationFactory(owner=UserFactory(username="boss"))
    membership = MembershipFactory(organization=org)
    assert membership.role == Membership.Role.MEMBER
    assert sorted(org.memberships.values_list("role", flat=True)) == ["member", "owner"]


def test_a_contact_is_cleaned_in_its_organizations_region():
    org = OrganizationFactory(default_phone_region="GB")
    contact = ContactFactory(organization=org, first_name="Jane", last_name="Doe", email="Jane@Example.COM",
                             phone="020 7946 0018")
    assert (contact.full_name, contact.email, contact.phone) == ("Jane Doe", "jane@example.com", "+442079460018")


def test_a_contact_is_recorded_for_push_when_the_organization_syncs():
    connection = GhlConnectionFactory()
    contact = ContactFactory(organization=connection.organization)
    assert OutboxEntry.objects.filter(object_id=contact.pk, account_id=connection.location_id).exists()


def test_a_connection_is_active_with_tokens_encrypted_at_rest():
    connection = GhlConnectionFactory(access_token="plain-access", refresh_token="plain-refresh")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM ghl_integration_ghlconnection WHERE id = %s",
                       [connection.pk])
        stored = cursor.fetchone()
    assert connection.is_active and not connection.is_agency
    assert all(value.startswith("gAAAA") and "plain" not in value for value in stored)
    connection.refresh_from_db()
    assert (connection.access_token, connection.refresh_token) == ("plain-access", "plain-refresh")


def test_connection_traits():
    agency = GhlConnectionFactory(agency=True, company_id="comp-9")
    assert agency.is_agency and agency.location_id == "" and agency.location_name == "Agency comp-9"
    soon = timezone.now() + USE_MARGIN
    assert GhlConnectionFactory(expiring=True).token_expires_at <= soon < GhlConnectionFactory().token_expires_at
