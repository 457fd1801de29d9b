import re
import time
from urllib.parse import parse_qs, urlparse

import requests

from ghl_sandbox import constants as c

REDIRECT = "http://127.0.0.1:9/callback"


def _token(sandbox, **data):
    body = {"client_id": c.SANDBOX_CLIENT_ID, "client_secret": c.SANDBOX_CLIENT_SECRET, **data}
    return sandbox.session.post(f"{sandbox.base_url}/oauth/token", data=body, timeout=10)


def test_code_exchange_returns_documented_fields_and_code_is_single_use(sandbox):
    code = sandbox.control.issue_code(locationId=c.DEMO_LOCATION_ID)["code"]

    first = _token(sandbox, grant_type="authorization_code", code=code, user_type="Location")
    second = _token(sandbox, grant_type="authorization_code", code=code, user_type="Location")

    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86399
    assert body["userType"] == "Location" and body["locationId"] == c.DEMO_LOCATION_ID
    assert body["companyId"] == c.DEMO_COMPANY_ID and body["userId"] == c.DEMO_USER_ID
    assert "contacts.readonly" in body["scope"].split() and body["refresh_token"]
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"


def test_bad_client_secret_is_rejected(sandbox):
    code = sandbox.control.issue_code(locationId=c.DEMO_LOCATION_ID)["code"]
    resp = sandbox.session.post(f"{sandbox.base_url}/oauth/token", data={
        "client_id": c.SANDBOX_CLIENT_ID, "client_secret": "nope", "grant_type": "authorization_code", "code": code})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_refresh_rotates_and_reuse_is_invalid_grant(sandbox):
    tokens = sandbox.location_token()

    fresh = sandbox.refresh(tokens["refresh_token"])
    reused = sandbox.refresh(tokens["refresh_token"])

    assert fresh.status_code == 200
    assert fresh.json()["refresh_token"] != tokens["refresh_token"]
    assert fresh.json()["access_token"] != tokens["access_token"]
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant" and reused.json()["error_description"]
    assert sandbox.refresh(fresh.json()["refresh_token"]).status_code == 200
    grants = sandbox.control.request_log(path="/oauth/token", grant_type="refresh_token")
    assert [g["status"] for g in grants] == [200, 400, 200]
    assert all("token" not in str(g.get("path", ""))[12:] for g in grants)


def test_token_ttl_makes_tokens_expire(sandbox, make_api):
    sandbox.control.set_token_ttl(1)
    tokens = sandbox.location_token()
    api = make_api(tokens["access_token"])
    assert tokens["expires_in"] == 1
    assert api.get(f"/locations/{c.DEMO_LOCATION_ID}").status_code == 200

    time.sleep(1.2)

    expired = api.get(f"/locations/{c.DEMO_LOCATION_ID}")
    assert expired.status_code == 401 and expired.json()["error"] == "Unauthorized"
    sandbox.control.set_token_ttl(86399)
    refreshed = sandbox.refresh(tokens["refresh_token"]).json()
    assert refreshed["expires_in"] == 86399
    assert make_api(refreshed["access_token"]).get(f"/locations/{c.DEMO_LOCATION_ID}").status_code == 200


def test_expire_all_tokens_now(sandbox, api):
    assert api.get(f"/locations/{c.DEMO_LOCATION_ID}").status_code == 200
    sandbox.control.expire_tokens()
    assert api.get(f"/locations/{c.DEMO_LOCATION_ID}").status_code == 401


def test_agency_token_mints_location_token_and_lists_installed_locations(sandbox, make_api):
    second = sandbox.control.create_location(companyId=c.DEMO_COMPANY_ID, name="Second Branch", installed=False)
    company = sandbox.company_token(c.DEMO_COMPANY_ID)
    agency = make_api(company["access_token"])
    assert company["userType"] == "Company" and "locationId" not in company
    assert c.DEMO_LOCATION_ID in company["approvedLocations"]

    minted = agency.request("POST", "/oauth/locationToken",
                            data={"companyId": c.DEMO_COMPANY_ID, "locationId": c.DEMO_LOCATION_ID})
    installed = agency.get("/oauth/installedLocations",
                           params={"companyId": c.DEMO_COMPANY_ID, "appId": c.SANDBOX_APP_ID, "isInstalled": "true"})
    everything = agency.get("/oauth/installedLocations", params={"companyId": c.DEMO_COMPANY_ID,
                                                                 "appId": c.SANDBOX_APP_ID})

    assert minted.status_code == 200
    body = minted.json()
    assert body["locationId"] == c.DEMO_LOCATION_ID and "refresh_token" not in body
    assert body["appId"] == c.SANDBOX_APP_ID and body["userId"]
    loc_api = make_api(body["access_token"])
    assert loc_api.get(f"/contacts/search/duplicate?locationId={c.DEMO_LOCATION_ID}&email=x@y.z").status_code == 200
    assert [loc["_id"] for loc in installed.json()["locations"]] == [c.DEMO_LOCATION_ID]
    flags = {loc["_id"]: loc["isInstalled"] for loc in everything.json()["locations"]}
    assert flags == {c.DEMO_LOCATION_ID: True, second["id"]: False}
    assert everything.json()["count"] == 2


def test_location_token_needs_a_company_token(api):
    resp = api.request("POST", "/oauth/locationToken",
                       data={"companyId": c.DEMO_COMPANY_ID, "locationId": c.DEMO_LOCATION_ID})
    assert resp.status_code == 401


def _authorize(sandbox, path="/oauth/chooselocation", **params):
    query = {"response_type": "code", "client_id": c.SANDBOX_CLIENT_ID, "redirect_uri": REDIRECT,
             "scope": "contacts.readonly contacts.write", "state": "st-123", **params}
    return sandbox.session.get(sandbox.base_url + path, params=query, timeout=10)


def _submit(sandbox, page: requests.Response, decision: str, location: str) -> requests.Response:
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields.update(location_id=location, decision=decision)
    return sandbox.session.post(sandbox.base_url + action, data=fields, allow_redirects=False, timeout=10)


def test_authorize_page_approve_redirects_with_code_and_state(sandbox):
    # given
    page = _authorize(sandbox, path="/v2/oauth/chooselocation")
    assert page.status_code == 200
    assert 'id="location"' in page.text and 'id="approve"' in page.text and 'id="deny"' in page.text
    assert c.DEMO_LOCATION_NAME in page.text

    # when
    resp = _submit(sandbox, page, "approve", c.DEMO_LOCATION_ID)

    # then
    assert resp.status_code == 302
    target = urlparse(resp.headers["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == REDIRECT
    assert query["state"] == ["st-123"]
    tokens = sandbox.exchange_code(query["code"][0], redirect_uri=REDIRECT)
    assert tokens["scope"] == "contacts.readonly contacts.write"
    assert tokens["locationId"] == c.DEMO_LOCATION_ID


def test_authorize_page_agency_install_gives_company_token(sandbox):
    page = _authorize(sandbox, scope="oauth.readonly oauth.write contacts.readonly")
    resp = _submit(sandbox, page, "approve", f"company:{c.DEMO_COMPANY_ID}")
    code = parse_qs(urlparse(resp.headers["Location"]).query)["code"][0]
    tokens = sandbox.exchange_code(code)
    assert tokens["userType"] == "Company" and tokens["companyId"] == c.DEMO_COMPANY_ID


def test_authorize_page_deny_redirects_with_access_denied(sandbox):
    page = _authorize(sandbox)
    resp = _submit(sandbox, page, "deny", c.DEMO_LOCATION_ID)
    query = parse_qs(urlparse(resp.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": ["st-123"]}


def test_authorize_page_rejects_unknown_client_and_unregistered_redirect(sandbox):
    assert _authorize(sandbox, client_id="someone-else").status_code == 400
    bad = _authorize(sandbox, redirect_uri="https://evil.example.com/cb")
    assert bad.status_code == 400 and 'id="error"' in bad.text
    sandbox.control.register_client("otherapp-0002", "s3cret", ["https://app.example.com/cb"])
    assert _authorize(sandbox, client_id="otherapp-0002", redirect_uri="https://app.example.com/cb").status_code == 200


def test_token_endpoint_takes_form_encoding_only(sandbox):
    code = sandbox.control.issue_code(locationId=c.DEMO_LOCATION_ID)["code"]
    resp = sandbox.session.post(f"{sandbox.base_url}/oauth/token", json={
        "client_id": c.SANDBOX_CLIENT_ID, "client_secret": c.SANDBOX_CLIENT_SECRET,
        "grant_type": "authorization_code", "code": code}, timeout=10)
    assert resp.status_code == 422 and isinstance(resp.json()["message"], list)


def test_the_chooser_offers_the_sub_account_first_and_the_agency_last(sandbox):
    page = _authorize(sandbox)

    options = re.findall(r'<option value="([^"]+)"( selected)?>', page.text)
    assert options[0] == (c.DEMO_LOCATION_ID, " selected")  # approving without choosing installs the sub-account
    assert options[-1][0] == f"company:{c.DEMO_COMPANY_ID}" and not options[-1][1]
    assert "(every sub-account)" in page.text


def test_an_agency_token_reads_its_own_company_and_nothing_else(sandbox, make_api, api):
    other = sandbox.control.seed(name="Elsewhere", users=1, contacts=0)
    agency = make_api(sandbox.company_token(c.DEMO_COMPANY_ID)["access_token"])
    headers = {"Version": "2021-07-28"}

    own = agency.get(f"/companies/{c.DEMO_COMPANY_ID}", headers=headers)
    foreign = agency.get(f"/companies/{other['companyId']}", headers=headers)
    as_location = api.get(f"/companies/{c.DEMO_COMPANY_ID}", headers=headers)

    assert own.status_code == 200
    assert own.json()["company"]["id"] == c.DEMO_COMPANY_ID
    assert own.json()["company"]["name"] == "AgentLevel Demo Agency"
    assert foreign.status_code == 403
    assert as_location.status_code == 401


def test_a_sub_account_install_is_not_granted_agency_only_scopes(sandbox):
    code = sandbox.control.issue_code(locationId=c.DEMO_LOCATION_ID,
                                      scope="contacts.readonly companies.readonly")["code"]
    assert sandbox.exchange_code(code)["scope"] == "contacts.readonly"
