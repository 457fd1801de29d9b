"""Connections against the real sandbox over HTTP: connect, refresh on expiry and on 401, 30 days of tokens,
disconnect silencing every request."""
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from ghl_integration.connections import (
    ConnectError,
    ConnectionInactive,
    connection_access_token,
    connection_connect_from_code,
    connection_disconnect,
    connections_refresh_expiring,
)
from ghl_integration.installation import GhlInstallation
from ghl_integration.models import GhlConnection
from ghl_sandbox import constants as sbx
from tests.factories import OrganizationFactory, UserFactory, sandbox_connect


@pytest.fixture
def ghl(sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.GHL_AUTHORIZE_URL = f"{sandbox.base_url}/oauth/chooselocation"
    return sandbox


@pytest.fixture
def owner_org(db):
    owner = UserFactory()
    return owner, OrganizationFactory(name="Demo Dental", owner=owner)


def _connect(ghl, org, owner, settings) -> GhlConnection:
    return sandbox_connect(ghl, organization=org, user=owner)


def _refresh_grants(ghl) -> list[dict]:
    return ghl.control.request_log(path="/oauth/token", grant_type="refresh_token")


@pytest.mark.django_db
def test_connect_exchanges_a_real_code_once(ghl, owner_org, settings):
    owner, org = owner_org
    code = ghl.control.issue_code(locationId=sbx.DEMO_LOCATION_ID, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    connection = connection_connect_from_code(organization=org, user=owner, code=code).connection
    assert connection.location_name == sbx.DEMO_LOCATION_NAME
    assert connection.company_id == sbx.DEMO_COMPANY_ID

    with pytest.raises(ConnectError) as excinfo:
        connection_connect_from_code(organization=org, user=owner, code=code)
    assert excinfo.value.reason == "invalid_grant"
    assert GhlConnection.objects.count() == 1


@pytest.mark.django_db
def test_an_expired_token_is_refreshed_once_before_use(ghl, owner_org, settings):
    owner, org = owner_org
    connection = _connect(ghl, org, owner, settings)
    GhlConnection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))
    ghl.control.expire_tokens()
    ghl.control.clear_request_log()

    client = GhlInstallation(GhlConnection.objects.get(pk=connection.pk)).get_client()
    assert client.locations.get()["id"] == sbx.DEMO_LOCATION_ID
    assert client.locations.get()["id"] == sbx.DEMO_LOCATION_ID

    assert len(_refresh_grants(ghl)) == 1
    assert [r["status"] for r in ghl.control.request_log(path_prefix="/locations/")] == [200, 200]


@pytest.mark.django_db
def test_a_401_on_a_valid_looking_token_refreshes_once_and_retries(ghl, owner_org, settings):
    owner, org = owner_org
    connection = _connect(ghl, org, owner, settings)
    ghl.control.expire_tokens()  # GHL revoked it; our row still thinks it is good for 24 h
    ghl.control.clear_request_log()

    client = GhlInstallation(connection).get_client()
    assert client.locations.get()["id"] == sbx.DEMO_LOCATION_ID

    assert [r["status"] for r in ghl.control.request_log(path_prefix="/locations/")] == [401, 200]
    assert len(_refresh_grants(ghl)) == 1


@pytest.mark.django_db
def test_thirty_simulated_days_of_24h_tokens_never_use_an_expired_one(ghl, owner_org, settings):
    """Beat every 15 simulated minutes; the agent uses the API every 6 simulated hours."""
    owner, org = owner_org
    connection = _connect(ghl, org, owner, settings)
    ghl.control.clear_request_log()
    start = timezone.now()
    expired_uses = 0
    with mock.patch("django.utils.timezone.now") as now:
        for tick in range(30 * 24 * 4):
            now.return_value = start + timedelta(minutes=15 * tick)
            connections_refresh_expiring()
            if tick % (6 * 4) == 0:
                row = GhlConnection.objects.get(pk=connection.pk)
                token = connection_access_token(connection_id=connection.pk)
                expired_uses += row.token_expires_at <= now.return_value
                assert token == row.access_token
                assert GhlInstallation(row).get_client().locations.get()["id"] == sbx.DEMO_LOCATION_ID
    assert expired_uses == 0
    grants = _refresh_grants(ghl)
    assert 29 <= len(grants) <= 32  # about once a simulated day, each with a fresh (rotated) refresh token
    assert all(g["status"] == 200 for g in grants)
    assert GhlConnection.objects.get(pk=connection.pk).status == "active"


@pytest.mark.django_db
def test_after_disconnect_no_request_reaches_ghl_for_that_location(ghl, owner_org, settings):
    owner, org = owner_org
    connection = _connect(ghl, org, owner, settings)
    GhlConnection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now())
    connection_disconnect(connection=connection)
    ghl.control.clear_request_log()

    with pytest.raises(ConnectionInactive):
        GhlInstallation(GhlConnection.objects.get(pk=connection.pk)).get_client()
    with pytest.raises(ConnectionInactive):
        connection_access_token(connection_id=connection.pk)
    assert connections_refresh_expiring() == {"refreshed": 0, "failed": 0, "needs_reauthorization": 0}

    assert ghl.control.request_log() == []
