"""OAuth through the client against the sandbox (REFERENCE.md §b): codes, rotating refresh tokens, agency tokens."""
import pytest

from ghl_integration.client import GhlInvalidGrant
from ghl_sandbox import constants as c

CLIENT = {"client_id": c.SANDBOX_CLIENT_ID, "client_secret": c.SANDBOX_CLIENT_SECRET}


def test_code_exchange_is_single_use(sandbox, oauth):
    code = sandbox.control.issue_code(locationId=c.DEMO_LOCATION_ID)["code"]

    tokens = oauth.exchange_code(code=code, **CLIENT)
    with pytest.raises(GhlInvalidGrant) as exc:
        oauth.exchange_code(code=code, **CLIENT)

    assert tokens["userType"] == "Location" and tokens["locationId"] == c.DEMO_LOCATION_ID
    assert tokens["access_token"] and tokens["refresh_token"] and tokens["expires_in"] == c.DEFAULT_TOKEN_TTL
    assert exc.value.status == 400 and code not in repr(exc.value) and code not in str(exc.value)


def test_refresh_rotates_and_a_reused_refresh_token_is_invalid_grant(sandbox, oauth, make_client):
    tokens = oauth.exchange_code(code=sandbox.control.issue_code(locationId=c.DEMO_LOCATION_ID)["code"], **CLIENT)

    fresh = oauth.refresh(refresh_token=tokens["refresh_token"], **CLIENT)
    with pytest.raises(GhlInvalidGrant) as exc:
        oauth.refresh(refresh_token=tokens["refresh_token"], **CLIENT)
    client = make_client(lambda force_refresh=False: fresh["access_token"])

    assert fresh["refresh_token"] != tokens["refresh_token"] and fresh["access_token"] != tokens["access_token"]
    assert exc.value.status == 400 and exc.value.body["error"] == "invalid_grant"
    assert tokens["refresh_token"] not in repr(exc.value)
    assert client.locations.get()["id"] == c.DEMO_LOCATION_ID  # the rotated access token works


def test_agency_token_mints_a_location_token(sandbox, oauth, make_client):
    agency = oauth.exchange_code(code=sandbox.control.issue_code(companyId=c.DEMO_COMPANY_ID)["code"], **CLIENT)

    minted = oauth.location_token(company_id=c.DEMO_COMPANY_ID, location_id=c.DEMO_LOCATION_ID,
                                  token_provider=lambda force_refresh=False: agency["access_token"])
    client = make_client(lambda force_refresh=False: minted["access_token"])

    assert agency["userType"] == "Company" and c.DEMO_LOCATION_ID in agency["approvedLocations"]
    assert minted["locationId"] == c.DEMO_LOCATION_ID and "refresh_token" not in minted
    assert client.contacts.search(page_limit=1)["total"] == 50


def test_installed_locations_page_and_iterate(sandbox, oauth):
    for n in range(4):
        sandbox.control.create_location(companyId=c.DEMO_COMPANY_ID, name=f"Branch {n}")
    agency = oauth.exchange_code(code=sandbox.control.issue_code(companyId=c.DEMO_COMPANY_ID)["code"], **CLIENT)
    provider = lambda force_refresh=False: agency["access_token"]  # noqa: E731

    page = oauth.installed_locations(company_id=c.DEMO_COMPANY_ID, app_id=c.SANDBOX_APP_ID, token_provider=provider,
                                     limit=2)
    every = list(oauth.iter_installed_locations(company_id=c.DEMO_COMPANY_ID, app_id=c.SANDBOX_APP_ID,
                                                token_provider=provider, page_size=2))
    branches = list(oauth.iter_installed_locations(company_id=c.DEMO_COMPANY_ID, app_id=c.SANDBOX_APP_ID,
                                                   token_provider=provider, query="Branch"))

    assert len(page["locations"]) == 2 and page["count"] == 5
    assert len(every) == 5 and len({loc["_id"] for loc in every}) == 5
    assert c.DEMO_LOCATION_ID in {loc["_id"] for loc in every}
    assert sorted(loc["name"] for loc in branches) == [f"Branch {n}" for n in range(4)]
