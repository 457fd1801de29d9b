"""The connect flow's guard rails that need no GHL at all: state handling, roles, tenancy, encryption."""
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from ghl_integration.models import GhlConnection
from tenancy.models import Membership
from tests.factories import GhlConnectionFactory, MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture
def owner_and_org(db):
    org = OrganizationFactory(name="Clinic A")
    return org.memberships.get().user, org


def _start(client, org):
    response = client.post(f"/orgs/{org.pk}/integrations/ghl/connect/")
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)


@pytest.mark.django_db
def test_connect_redirects_to_the_authorize_page_with_a_signed_state(client, owner_and_org, settings):
    owner, org = owner_and_org
    client.force_login(owner)
    response = client.post(f"/orgs/{org.pk}/integrations/ghl/connect/")
    target = urlsplit(response["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == settings.GHL_AUTHORIZE_URL
    assert query["client_id"] == [settings.GHL_CLIENT_ID]
    assert query["redirect_uri"] == [settings.GHL_REDIRECT_URI]
    assert query["response_type"] == ["code"]
    assert set(query["scope"][0].split()) >= set(settings.GHL_REQUIRED_SCOPES)
    assert len(query["state"][0]) > 20


@pytest.mark.django_db
def test_connect_needs_post_and_csrf(owner_and_org):
    from django.test import Client

    owner, org = owner_and_org
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(owner)
    assert csrf_client.get(f"/orgs/{org.pk}/integrations/ghl/connect/").status_code == 405
    assert csrf_client.post(f"/orgs/{org.pk}/integrations/ghl/connect/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("tamper", ["flip", "garbage", "missing"])
def test_tampered_or_missing_state_is_rejected_and_nothing_is_saved(client, owner_and_org, tamper):
    owner, org = owner_and_org
    client.force_login(owner)
    state = _start(client, org)["state"][0]
    bad = {"flip": state[:-2] + ("AA" if not state.endswith("AA") else "BB"), "garbage": "not-a-state",
           "missing": None}[tamper]
    params = {"code": "whatever"} | ({"state": bad} if bad else {})
    with mock.patch("ghl_integration.connections.tokens.GhlOAuth") as oauth:
        response = client.get("/integrations/ghl/oauth/callback/", params, follow=True)
    oauth.assert_not_called()
    assert GhlConnection.objects.count() == 0
    assert "could not be completed" in response.content.decode()


@pytest.mark.django_db
def test_expired_state_is_rejected(client, owner_and_org, settings):
    owner, org = owner_and_org
    client.force_login(owner)
    state = _start(client, org)["state"][0]
    later = timezone.now() + timedelta(seconds=settings.GHL_OAUTH_STATE_MAX_AGE_S + 5)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        response = client.get("/integrations/ghl/oauth/callback/", {"code": "c", "state": state}, follow=True)
    assert "expired" in response.content.decode()
    assert GhlConnection.objects.count() == 0


@pytest.mark.django_db
def test_state_of_another_user_is_rejected(client, owner_and_org):
    owner, org = owner_and_org
    client.force_login(owner)
    state = _start(client, org)["state"][0]
    intruder = MembershipFactory(organization=org, role=Membership.Role.ADMIN).user
    client.force_login(intruder)
    response = client.get("/integrations/ghl/oauth/callback/", {"code": "c", "state": state}, follow=True)
    assert "started by another user" in response.content.decode()


@pytest.mark.django_db
def test_denied_consent_ends_on_the_settings_page_with_plain_words(client, owner_and_org):
    owner, org = owner_and_org
    client.force_login(owner)
    state = _start(client, org)["state"][0]
    response = client.get("/integrations/ghl/oauth/callback/", {"error": "access_denied", "state": state},
                          follow=True)
    assert response.redirect_chain[-1][0] == f"/orgs/{org.pk}/integrations/ghl/"
    assert "access was not approved" in response.content.decode()
    assert GhlConnection.objects.count() == 0


@pytest.mark.django_db
def test_a_member_who_is_not_owner_or_admin_cannot_connect_or_disconnect(client, owner_and_org):
    _, org = owner_and_org
    member = MembershipFactory(organization=org, role=Membership.Role.MEMBER).user
    client.force_login(member)
    assert client.get(f"/orgs/{org.pk}/integrations/ghl/").status_code == 403
    assert client.post(f"/orgs/{org.pk}/integrations/ghl/connect/").status_code == 403
    assert client.post(f"/orgs/{org.pk}/integrations/ghl/disconnect/").status_code == 403


@pytest.mark.django_db
def test_another_orgs_owner_cannot_see_or_act_on_a_connection(client, owner_and_org):
    _, org_a = owner_and_org
    GhlConnectionFactory(organization=org_a, location_id="locA")
    owner_b = UserFactory()
    OrganizationFactory(name="Clinic B", owner=owner_b)
    client.force_login(owner_b)
    assert client.get(f"/orgs/{org_a.pk}/integrations/ghl/").status_code == 404
    assert client.post(f"/orgs/{org_a.pk}/integrations/ghl/disconnect/").status_code == 404
    assert GhlConnection.objects.get(location_id="locA").status == GhlConnection.Status.ACTIVE


@pytest.mark.django_db
def test_token_columns_hold_ciphertext_only(owner_and_org):
    _, org = owner_and_org
    connection = GhlConnectionFactory(
        organization=org, access_token="plain-access-token-123", refresh_token="plain-refresh-456"
    )
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM ghl_integration_ghlconnection WHERE id = %s",
                       [connection.pk])
        access, refresh = cursor.fetchone()
    assert "plain-access-token-123" not in access and "plain-refresh-456" not in refresh
    assert access.startswith("gAAAA") and refresh.startswith("gAAAA")  # Fernet tokens
    connection.refresh_from_db()
    assert connection.access_token == "plain-access-token-123"


@pytest.mark.django_db
def test_settings_page_shows_status_and_never_the_tokens(client, owner_and_org):
    owner, org = owner_and_org
    GhlConnectionFactory(
        organization=org, location_name="Clinic A GHL", scopes="contacts.readonly",
        access_token="secret-access-zzz", refresh_token="secret-refresh-zzz",
        token_expires_at=timezone.now() + timedelta(hours=3),
    )
    client.force_login(owner)
    page = client.get(f"/orgs/{org.pk}/integrations/ghl/").content.decode()
    assert "Connected to Clinic A GHL" in page
    assert "contacts.readonly" in page
    assert "secret-access-zzz" not in page and "secret-refresh-zzz" not in page
