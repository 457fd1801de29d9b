from ghl_sandbox import constants as c

LOC = c.DEMO_LOCATION_ID


def test_missing_and_wrong_bearer_get_401_unauthorized_dto(make_api):
    for token in (None, "not-a-token"):
        resp = make_api(token).get(f"/locations/{LOC}")
        assert resp.status_code == 401
        body = resp.json()
        assert body["statusCode"] == 401 and body["error"] == "Unauthorized" and isinstance(body["message"], str)
        assert body["traceId"]


def test_version_header_missing_or_wrong_is_400(api):
    missing = api.get(f"/contacts/search/duplicate?locationId={LOC}&email=a@b.c", version=None)
    wrong = api.get(f"/contacts/search/duplicate?locationId={LOC}&email=a@b.c", version=c.VERSION_2021_04_15)
    ok = api.get(f"/contacts/search/duplicate?locationId={LOC}&email=a@b.c")
    assert missing.status_code == 400 and isinstance(missing.json()["message"], str)
    assert wrong.status_code == 400
    assert ok.status_code == 200


def test_version_check_can_be_relaxed(sandbox, api):
    sandbox.control.config(version_check="lenient")
    assert api.get(f"/locations/{LOC}", version=None).status_code == 200
    assert api.get(f"/locations/{LOC}", version="1999-01-01").status_code == 400


def test_missing_scope_is_401_not_authorized_for_scope(sandbox, make_api):
    api = make_api(sandbox.location_token(scope="contacts.readonly")["access_token"])
    resp = api.post("/contacts/", json={"locationId": LOC, "firstName": "Ann"})
    assert resp.status_code == 401
    assert resp.json()["message"] == "The token is not authorized for this scope."


def test_company_token_on_location_only_route_is_401(sandbox, make_api):
    agency = make_api(sandbox.company_token()["access_token"])
    resp = agency.post("/contacts/search", json={"locationId": LOC, "pageLimit": 10})
    assert resp.status_code == 401


def test_token_of_location_a_cannot_touch_location_b(sandbox, api, make_api):
    # given: a second location with its own contact
    other = sandbox.control.seed(name="Other Clinic", contacts=3)
    other_api = make_api(sandbox.location_token(other["locationId"])["access_token"])
    other_contact = other_api.post("/contacts/search", json={"locationId": other["locationId"], "pageLimit": 1}
                                   ).json()["contacts"][0]

    # then
    assert api.get(f"/contacts/{other_contact['id']}").status_code == 404
    assert api.put(f"/contacts/{other_contact['id']}", json={"firstName": "X"}).status_code == 404
    assert api.delete(f"/contacts/{other_contact['id']}").status_code == 404
    listing = api.post("/contacts/search", json={"locationId": other["locationId"], "pageLimit": 10})
    assert listing.status_code == 403
    assert api.get(f"/locations/{other['locationId']}").status_code == 403
    assert api.get("/opportunities/pipelines", params={"locationId": other["locationId"]}).status_code == 403
    created = api.post("/contacts/", json={"locationId": other["locationId"], "firstName": "Sneaky"})
    assert created.status_code == 403


def test_unknown_route_is_404_and_every_response_has_trace_id(api):
    resp = api.get("/nope/nothing")
    assert resp.status_code == 404 and resp.json()["traceId"]


def test_validation_errors_use_422_array_messages(api):
    resp = api.post("/opportunities/", json={"locationId": LOC})
    assert resp.status_code == 422
    body = resp.json()
    assert isinstance(body["message"], list) and body["error"] == "Unprocessable Entity"
