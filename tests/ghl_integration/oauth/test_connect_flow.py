"""The connect flow and token lifecycle with GHL's answers pinned at the wire (`responses`)."""
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone

from crm.models import Contact
from crm.services.contacts import contact_create
from crm.services.external_ids import external_id_link
from ghl_integration.client import GhlServerError
from ghl_integration.connections import (
    ConnectError,
    ConnectionInactive,
    ConnectionNeedsReauthorization,
    app_installed,
    app_uninstalled,
    connection_access_token,
    connection_connect_from_code,
    connection_disconnect,
    connection_refresh_tokens,
)
from ghl_integration.models import GhlAppInstallState, GhlConnection
from tests.factories import GhlConnectionFactory, OrganizationFactory

ALL_SCOPES = (
    "contacts.readonly contacts.write conversations.readonly conversations.write conversations/message.readonly "
    "conversations/message.write opportunities.readonly opportunities.write calendars.readonly "
    "calendars/events.readonly calendars/events.write locations.readonly users.readonly"
)


def location_tokens(n=1, **overrides):
    return {
        "access_token": f"access-{n}", "token_type": "Bearer", "expires_in": 86399, "refresh_token": f"refresh-{n}",
        "scope": ALL_SCOPES, "userType": "Location", "locationId": "loc-1", "companyId": "comp-1", "userId": "u-1",
    } | overrides


@pytest.fixture
def api(settings):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.base = settings.GHL_API_BASE_URL
        yield mock


@pytest.fixture
def no_retries(monkeypatch):
    """GHL's failures surface at the first answer (the production policy retries a 503 for seconds)."""
    from ghl_integration.client import base

    monkeypatch.setattr(base, "DEFAULT_RETRY", base.RetryPolicy(max_attempts=1))


@pytest.fixture
def owner_org(db):
    org = OrganizationFactory(name="Clinic")
    return org.memberships.get().user, org


def _callback(client, org, **params):
    start = client.post(f"/orgs/{org.pk}/integrations/ghl/connect/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    return client.get("/integrations/ghl/oauth/callback/", {"state": state, **params}, follow=True)


def _token_forms(api):
    return [parse_qs(c.request.body) for c in api.calls if c.request.url.endswith("/oauth/token")]


@pytest.mark.django_db
def test_location_consent_connects_and_lands_on_settings(client, owner_org, api, settings):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens())
    api.get(f"{api.base}/locations/loc-1", json={"location": {"id": "loc-1", "name": "Clinic GHL"}})
    client.force_login(owner)

    response = _callback(client, org, code="code-1")

    assert response.redirect_chain[-1][0] == f"/orgs/{org.pk}/integrations/ghl/"
    assert "Connected to Clinic GHL" in response.content.decode()
    (form,) = _token_forms(api)
    assert form == {
        "client_id": [settings.GHL_CLIENT_ID], "client_secret": [settings.GHL_CLIENT_SECRET],
        "grant_type": ["authorization_code"], "code": ["code-1"], "redirect_uri": [settings.GHL_REDIRECT_URI],
    }
    connection = GhlConnection.objects.get()
    assert (connection.location_id, connection.company_id, connection.token_level) == ("loc-1", "comp-1", "Location")
    assert connection.access_token == "access-1" and connection.refresh_token == "refresh-1"
    assert connection.connected_by == owner and connection.status == "active"
    assert connection.token_expires_at > timezone.now() + timedelta(hours=23)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": "invalid_grant", "error_description": "code already used"}, "already used or has expired"),
        (500, {"statusCode": 500, "message": "boom"}, "could not complete the connection"),
    ],
)
def test_token_endpoint_errors_end_on_settings_with_plain_words_and_nothing_saved(
    client, owner_org, api, status, body, message, no_retries
):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=body, status=status)
    client.force_login(owner)
    response = _callback(client, org, code="used-code")
    assert message in response.content.decode()
    assert GhlConnection.objects.count() == 0


@pytest.mark.django_db
def test_missing_scopes_are_refused_by_name(client, owner_org, api):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens(scope="contacts.readonly"))
    client.force_login(owner)
    page = _callback(client, org, code="c").content.decode()
    assert "did not grant these permissions" in page and "contacts.write" in page
    assert GhlConnection.objects.count() == 0


@pytest.mark.django_db
def test_reconnecting_the_same_location_reuses_the_row_and_keeps_links(client, owner_org, api):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens(1))
    api.post(f"{api.base}/oauth/token", json=location_tokens(2))
    api.get(f"{api.base}/locations/loc-1", json={"location": {"id": "loc-1", "name": "Clinic GHL"}})
    client.force_login(owner)
    _callback(client, org, code="c1")
    first = GhlConnection.objects.get()
    contact = contact_create(organization=org, first_name="Linked", email="linked@example.com")
    external_id_link(obj=contact, provider="ghl", account_id="loc-1", external_id="ghl-contact-1")

    client.post(f"/orgs/{org.pk}/integrations/ghl/disconnect/")
    first.refresh_from_db()
    assert first.status == "disconnected" and first.access_token is None and first.refresh_token is None
    assert Contact.objects.for_org(org).count() == 1

    _callback(client, org, code="c2")
    again = GhlConnection.objects.get()
    assert again.pk == first.pk and again.status == "active" and again.access_token == "access-2"
    assert contact.pk == Contact.objects.for_org(org).get().pk


@pytest.mark.django_db
def test_agency_consent_lets_the_owner_pick_a_location(client, owner_org, api, settings):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens(
        9, userType="Company", locationId=None, companyId="comp-9", scope=ALL_SCOPES + " oauth.readonly oauth.write"))
    api.get(f"{api.base}/oauth/installedLocations", json={"locations": [
        {"_id": "loc-a", "name": "Branch A", "address": "1 Main St", "isInstalled": True},
        {"_id": "loc-b", "name": "Branch B", "address": "2 Main St", "isInstalled": True}], "count": 2})
    api.post(f"{api.base}/oauth/locationToken", json={
        "access_token": "loc-b-access", "token_type": "Bearer", "expires_in": 86399, "scope": ALL_SCOPES,
        "locationId": "loc-b", "userId": "u-1"})
    api.get(f"{api.base}/locations/loc-b", json={"location": {"id": "loc-b", "name": "Branch B"}})
    client.force_login(owner)

    response = _callback(client, org, code="agency-code")
    assert response.redirect_chain[-1][0] == f"/orgs/{org.pk}/integrations/ghl/choose-location/"
    assert "Branch A" in response.content.decode() and "Branch B" in response.content.decode()

    bad = client.post(f"/orgs/{org.pk}/integrations/ghl/choose-location/", {"location_id": "loc-zzz"})
    assert bad.status_code == 400 and "Pick one of the listed locations" in bad.content.decode()

    done = client.post(f"/orgs/{org.pk}/integrations/ghl/choose-location/", {"location_id": "loc-b"}, follow=True)
    assert "Connected to Branch B" in done.content.decode()
    location = GhlConnection.objects.get(token_level="Location")
    agency = GhlConnection.objects.get(token_level="Company")
    assert location.agency_connection == agency and location.refresh_token is None
    mint = next(c for c in api.calls if c.request.url.endswith("/oauth/locationToken"))
    assert parse_qs(mint.request.body) == {"companyId": ["comp-9"], "locationId": ["loc-b"]}
    assert mint.request.headers["Authorization"] == "Bearer access-9"
    assert mint.request.headers["Version"] == "2021-07-28"


def _connection(org, **overrides):
    return GhlConnectionFactory(**{
        "organization": org, "location_id": "loc-1", "location_name": "Clinic GHL", "company_id": "comp-1",
        "access_token": "old-access", "refresh_token": "old-refresh", "scopes": ALL_SCOPES,
        "token_expires_at": timezone.now() + timedelta(minutes=5), **overrides})


@pytest.mark.django_db
def test_refresh_sends_the_stored_refresh_token_and_stores_the_new_pair(owner_org, api, settings):
    _, org = owner_org
    connection = _connection(org)
    api.post(f"{api.base}/oauth/token", json=location_tokens(2))

    assert connection_refresh_tokens(connection_id=connection.pk) == "access-2"

    (form,) = _token_forms(api)
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["old-refresh"]
    assert form["user_type"] == ["Location"]
    connection.refresh_from_db()
    assert (connection.access_token, connection.refresh_token) == ("access-2", "refresh-2")
    assert connection.last_refreshed_at is not None


@pytest.mark.django_db
def test_a_fresh_token_is_not_refreshed_and_a_stale_401_after_someone_else_refreshed_is_not_either(owner_org, api):
    _, org = owner_org
    connection = _connection(org, token_expires_at=timezone.now() + timedelta(hours=20), access_token="current")
    assert connection_access_token(connection_id=connection.pk) == "current"
    # A worker that got a 401 with an older token finds the stored one already replaced: no second refresh.
    assert connection_access_token(connection_id=connection.pk, force_refresh=True, stale_token="older") == "current"
    assert _token_forms(api) == []


@pytest.mark.django_db
def test_invalid_grant_marks_needs_reauthorization_and_stops_use(client, owner_org, api):
    owner, org = owner_org
    connection = _connection(org)
    api.post(f"{api.base}/oauth/token", json={"error": "invalid_grant"}, status=400)

    with pytest.raises(ConnectionNeedsReauthorization):
        connection_refresh_tokens(connection_id=connection.pk)

    connection.refresh_from_db()
    assert connection.status == "needs_reauthorization"
    with pytest.raises(ConnectionInactive):
        connection_access_token(connection_id=connection.pk)
    client.force_login(owner)
    page = client.get(f"/orgs/{org.pk}/integrations/ghl/").content.decode()
    assert "Needs reconnecting" in page and "Reconnect to continue syncing" in page and "Reconnect GoHighLevel" in page


@pytest.mark.django_db
def test_a_transient_refresh_failure_is_recorded_and_keeps_the_connection(owner_org, api, no_retries):
    _, org = owner_org
    connection = _connection(org)
    api.post(f"{api.base}/oauth/token", json={"statusCode": 503, "message": "down"}, status=503)
    with pytest.raises(GhlServerError):
        connection_refresh_tokens(connection_id=connection.pk)
    connection.refresh_from_db()
    assert connection.status == "active" and connection.refresh_token == "old-refresh"
    assert "will retry" in connection.last_error


@pytest.mark.django_db
def test_disconnect_wipes_tokens_keeps_data_and_refuses_further_use(owner_org):
    _, org = owner_org
    connection = _connection(org)
    contact = contact_create(organization=org, first_name="Keep", email="keep@example.com")
    external_id_link(obj=contact, provider="ghl", account_id="loc-1", external_id="x1")
    connection_disconnect(connection=connection)
    connection.refresh_from_db()
    assert connection.status == "disconnected" and not connection.access_token and not connection.refresh_token
    assert Contact.objects.for_org(org).count() == 1
    with pytest.raises(ConnectionInactive):
        connection_access_token(connection_id=connection.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("install_first", [True, False])
def test_install_before_or_after_the_callback_ends_in_the_same_state(client, owner_org, api, install_first):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens())
    api.get(f"{api.base}/locations/loc-1", json={"location": {"id": "loc-1", "name": "Clinic GHL"}})
    client.force_login(owner)
    when = timezone.now()

    def install():
        app_installed(location_id="loc-1", company_id="comp-1", at=when, payload={"planId": "plan-7"})

    if install_first:
        install()
    _callback(client, org, code="c")
    if not install_first:
        install()

    connection = GhlConnection.objects.get()
    assert connection.status == "active"
    assert connection.config["install"] == {"planId": "plan-7", "companyId": "comp-1", "installedAt": when.isoformat()}
    assert GhlAppInstallState.objects.get(resource_id="loc-1").installed is True


@pytest.mark.django_db
def test_uninstall_marks_uninstalled_wipes_tokens_and_an_older_install_does_not_undo_it(owner_org):
    _, org = owner_org
    connection = _connection(org)
    now = timezone.now()
    assert app_uninstalled(location_id="loc-1", company_id="", at=now) == 1
    app_installed(location_id="loc-1", company_id="comp-1", at=now - timedelta(minutes=1), payload={})
    connection.refresh_from_db()
    assert connection.status == "uninstalled" and connection.access_token is None
    assert GhlAppInstallState.objects.get(resource_id="loc-1").installed is False


@pytest.mark.django_db
def test_no_token_or_secret_appears_in_logs(client, owner_org, api, caplog, settings):
    import logging

    caplog.set_level(logging.DEBUG)
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens(1))
    api.post(f"{api.base}/oauth/token", json=location_tokens(2))
    api.get(f"{api.base}/locations/loc-1", json={"location": {"id": "loc-1", "name": "Clinic GHL"}})
    client.force_login(owner)
    _callback(client, org, code="secret-code-1")
    connection_refresh_tokens(connection_id=GhlConnection.objects.get().pk, force=True)

    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "ghl.connection.refreshed" in logged  # the capture did see our log lines
    for secret in ("access-1", "refresh-1", "access-2", "refresh-2", "secret-code-1", settings.GHL_CLIENT_SECRET):
        assert secret not in logged


@pytest.mark.django_db
def test_admin_never_shows_tokens_and_can_disconnect(admin_client, owner_org):
    _, org = owner_org
    connection = _connection(org, access_token="admin-visible-access?", refresh_token="admin-visible-refresh?")
    page = admin_client.get(f"/admin/ghl_integration/ghlconnection/{connection.pk}/change/").content.decode()
    assert "admin-visible" not in page and "Clinic GHL" in page
    listing = admin_client.get("/admin/ghl_integration/ghlconnection/?status__exact=active&q=Clinic").content.decode()
    assert "Clinic GHL" in listing

    admin_client.post("/admin/ghl_integration/ghlconnection/",
                      {"action": "disconnect", "_selected_action": [connection.pk]})
    connection.refresh_from_db()
    assert connection.status == "disconnected" and connection.access_token is None


@pytest.fixture
def connected_signals():
    """Every `connection_connected` sent, with what the database held when it was received."""
    from ghl_integration.signals import connection_connected

    received = []

    def receiver(sender, *, connection, **kwargs):
        stored = GhlConnection.objects.filter(pk=connection.pk).values("status", "location_name").first()
        received.append((connection.pk, stored))

    connection_connected.connect(receiver)
    yield received
    connection_connected.disconnect(receiver)


@pytest.mark.django_db
def test_connecting_tells_the_receivers_once_the_row_is_saved(owner_org, api, connected_signals):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens())
    api.get(f"{api.base}/locations/loc-1", json={"location": {"id": "loc-1", "name": "Clinic GHL"}})

    connection = connection_connect_from_code(organization=org, user=owner, code="c").connection

    assert connected_signals == [(connection.pk, {"status": "active", "location_name": "Clinic GHL"})]


@pytest.mark.django_db
def test_a_refused_connect_tells_no_receiver(owner_org, api, connected_signals):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens(scope="contacts.readonly"))

    with pytest.raises(ConnectError):
        connection_connect_from_code(organization=org, user=owner, code="c")

    assert connected_signals == []


@pytest.mark.django_db
def test_if_ghl_does_not_name_the_location_it_is_named_by_its_id(owner_org, api, no_retries):
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens())
    api.get(f"{api.base}/locations/loc-1", json={"statusCode": 500, "message": "boom"}, status=500)

    connection = connection_connect_from_code(organization=org, user=owner, code="c").connection

    assert connection.is_active and GhlConnection.objects.get().location_name == "loc-1"


@pytest.mark.django_db
def test_an_agency_connection_is_announced_but_starts_no_sync(owner_org, api, settings, connected_signals,
                                                              django_capture_on_commit_callbacks):
    from unittest import mock

    settings.GHL_SYNC_PULL_ON_CONNECT = True
    owner, org = owner_org
    api.post(f"{api.base}/oauth/token", json=location_tokens(
        9, userType="Company", locationId=None, companyId="comp-9", scope=ALL_SCOPES + " oauth.readonly oauth.write"))

    with mock.patch("ghl_integration.contacts.tasks.contacts_initial_pull_task.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        result = connection_connect_from_code(organization=org, user=owner, code="agency-code")

    assert result.needs_location_choice
    assert [pk for pk, _ in connected_signals] == [result.connection.pk]
    delay.assert_not_called()
    assert len(api.calls) == 1  # the token exchange: no custom fields fetched for an agency


@pytest.mark.django_db
def test_an_agency_is_named_from_its_company_and_a_failed_read_still_connects(owner_org, api, no_retries):
    owner, org = owner_org
    scope = ALL_SCOPES + " oauth.readonly oauth.write companies.readonly"
    api.post(f"{api.base}/oauth/token", json=location_tokens(
        9, userType="Company", locationId=None, companyId="comp-9", scope=scope))
    api.get(f"{api.base}/companies/comp-9", json={"company": {"id": "comp-9", "name": "Bright Agency"}})

    named = connection_connect_from_code(organization=org, user=owner, code="c1").connection

    read = next(c for c in api.calls if "/companies/" in c.request.url)
    assert read.request.headers["Authorization"] == "Bearer access-9"
    assert read.request.headers["Version"] == "2021-07-28"
    assert named.location_name == "Bright Agency"

    # a reconnect whose company read fails keeps the name it had, and the connection
    api.replace(responses.GET, f"{api.base}/companies/comp-9", status=500, json={"message": "boom"})
    again = connection_connect_from_code(organization=org, user=owner, code="c2").connection
    assert again.pk == named.pk and again.status == "active" and again.location_name == "Bright Agency"
