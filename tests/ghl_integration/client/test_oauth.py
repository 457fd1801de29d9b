"""OAuth token endpoints: form-encoded, no bearer/Version on /oauth/token, invalid_grant, no secrets leak."""

import logging
import random
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ghl_integration.client import GhlAuthError, GhlInvalidGrant, GhlNetworkError, GhlOAuth, GhlOAuthError
from ghl_integration.client import oauth as oauth_module
from tests.ghl_integration.openapi_contract import validate_prepared_request, validate_response

from .conftest import BASE_URL, TOKEN, api_fixture

CLIENT_ID = "6487a6b1d2e8f10012345678-lmn0pq"
CLIENT_SECRET = "shh-client-secret-91c2"
REFRESH_TOKEN = "rt-secret-7d21"
CODE = "code-secret-55ab"
COMPANY_ID = "5DP4iH6HLkQsiKESj6rh"
LOCATION_ID = "ve9EPM428h8vShlRW1KT"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def oauth(limiter, clock, retry_policy):
    return GhlOAuth(
        base_url=BASE_URL,
        rate_limiter=limiter,
        retry=retry_policy,
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(1),
    )


def _form(call):
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def _no_secrets(text):
    return all(secret not in text for secret in (CLIENT_SECRET, REFRESH_TOKEN, CODE, TOKEN))


def test_exchange_code_posts_the_form_without_bearer_or_version(oauth, rsps):
    rsps.add("POST", f"{BASE_URL}/oauth/token", json=api_fixture("token"))

    tokens = oauth.exchange_code(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=CODE,
        redirect_uri="https://app.test/cb",
        user_type="Location",
    )

    request = rsps.calls[0].request
    assert request.headers["Content-Type"] == FORM
    assert "Authorization" not in request.headers
    assert "Version" not in request.headers
    assert _form(rsps.calls[0]) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": "https://app.test/cb",
        "user_type": "Location",
    }
    assert tokens["refresh_token"] and tokens["expires_in"] == 86399
    validate_prepared_request(request)
    validate_response("POST", "/oauth/token", 200, api_fixture("token"))


def test_refresh_posts_the_refresh_grant(oauth, rsps):
    rsps.add("POST", f"{BASE_URL}/oauth/token", json=api_fixture("token"))

    oauth.refresh(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)

    assert _form(rsps.calls[0]) == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "user_type": "Location",
    }
    validate_prepared_request(rsps.calls[0].request)


@pytest.mark.parametrize("status", [400, 401])
def test_invalid_grant_raises_a_reconnect_error_without_secrets(oauth, rsps, caplog, status):
    rsps.add("POST", f"{BASE_URL}/oauth/token", json=api_fixture("oauth_invalid_grant"), status=status)

    with caplog.at_level(logging.DEBUG, logger="ghl_integration"), pytest.raises(GhlInvalidGrant) as info:
        oauth.refresh(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)

    exc = info.value
    assert isinstance(exc, GhlAuthError) and isinstance(exc, GhlOAuthError)
    assert exc.error_code == "invalid_grant"
    assert exc.status == status
    assert len(rsps.calls) == 1
    assert _no_secrets(str(exc)) and _no_secrets(repr(exc)) and _no_secrets(str(exc.__dict__))
    assert all(_no_secrets(str(r.__dict__)) for r in caplog.records)


def test_other_oauth_errors_are_oauth_errors(oauth, rsps):
    rsps.add("POST", f"{BASE_URL}/oauth/token", json={"error": "invalid_client"}, status=401)

    with pytest.raises(GhlOAuthError) as info:
        oauth.exchange_code(client_id=CLIENT_ID, client_secret="wrong", code=CODE)

    assert not isinstance(info.value, GhlInvalidGrant)
    assert info.value.error_code == "invalid_client"


def test_refresh_is_not_retried_after_a_read_timeout(oauth, rsps):
    # GHL may have rotated the refresh token already: a retry would spend a dead one.
    rsps.add("POST", f"{BASE_URL}/oauth/token", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(GhlNetworkError):
        oauth.refresh(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)

    assert len(rsps.calls) == 1


def test_refresh_is_retried_on_503(oauth, rsps):
    rsps.add("POST", f"{BASE_URL}/oauth/token", json=api_fixture("error_502"), status=503)
    rsps.add("POST", f"{BASE_URL}/oauth/token", json=api_fixture("token"))

    assert oauth.refresh(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)["access_token"]


def test_location_token_uses_the_agency_bearer_and_a_form(oauth, rsps):
    rsps.add("POST", f"{BASE_URL}/oauth/locationToken", json=api_fixture("location_token"))

    token = oauth.location_token(
        company_id=COMPANY_ID, location_id=LOCATION_ID, token_provider=lambda force_refresh=False: TOKEN
    )

    request = rsps.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Version"] == "2021-07-28"
    assert request.headers["Content-Type"] == FORM
    assert _form(rsps.calls[0]) == {"companyId": COMPANY_ID, "locationId": LOCATION_ID}
    assert token["locationId"] == LOCATION_ID and "refresh_token" not in token
    validate_prepared_request(request)
    validate_response("POST", "/oauth/locationToken", 200, api_fixture("location_token"))


def test_installed_locations_query_and_iterator(oauth, rsps):
    location = api_fixture("installed_locations")["locations"][0]
    page1 = {
        "locations": [{**location, "_id": f"l{n}"} for n in range(100)],
        "count": 120,
        "installToFutureLocations": False,
    }
    page2 = {
        "locations": [{**location, "_id": f"l{n}"} for n in range(100, 120)],
        "count": 120,
        "installToFutureLocations": False,
    }
    rsps.add("GET", f"{BASE_URL}/oauth/installedLocations", json=page1)
    rsps.add("GET", f"{BASE_URL}/oauth/installedLocations", json=page2)

    pages = oauth.iter_installed_locations(
        company_id=COMPANY_ID,
        app_id="6487a6b1d2e8f10012345678",
        token_provider=lambda force_refresh=False: TOKEN,
        isInstalled=True,
    )
    ids = [loc["_id"] for loc in pages]

    assert ids == [f"l{n}" for n in range(120)]
    query = parse_qs(urlsplit(rsps.calls[1].request.url).query)
    assert query == {
        "companyId": [COMPANY_ID],
        "appId": ["6487a6b1d2e8f10012345678"],
        "skip": ["100"],
        "limit": ["100"],
        "isInstalled": ["true"],
    }
    assert rsps.calls[0].request.headers["Version"] == "2021-07-28"
    for call, page in zip(rsps.calls, (page1, page2), strict=True):
        validate_prepared_request(call.request)
        validate_response("GET", "/oauth/installedLocations", 200, page)


def test_module_level_shortcuts_use_settings_base_url(rsps, settings):
    settings.GHL_API_BASE_URL = "https://sandbox.test"
    settings.REDIS_URL = ""
    rsps.add("POST", "https://sandbox.test/oauth/token", json=api_fixture("token"))

    assert oauth_module.exchange_code(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=CODE)["access_token"]


def test_user_type_is_checked(oauth):
    with pytest.raises(ValueError):
        oauth.refresh(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, user_type="Agency")
