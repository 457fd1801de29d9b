"""Two sandbox shapes the contract tests caught: the deprecated users listing, and the unwrapped message."""
from ghl_integration.sandbox import constants as c
from tests.ghl_integration.openapi_contract import validate_response

LOC = c.DEMO_LOCATION_ID


def test_users_listed_by_location(api):
    resp = api.get("/users/", params={"locationId": LOC})

    assert resp.status_code == 200
    assert c.DEMO_USER_ID in [u["id"] for u in resp.json()["users"]]
    validate_response("GET", "/users/", 200, resp.json(), gaps=("unset-as-null",))
    assert api.get("/users/", params={"locationId": "SomeoneElsesLocation"}).status_code in (400, 403)


def test_get_message_is_not_wrapped(api):
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Ann", "phone": "+15035550111"})
    sent = api.post("/conversations/messages", json={"type": "SMS", "contactId": contact.json()["contact"]["id"],
                                                     "message": "hi"}).json()

    resp = api.get(f"/conversations/messages/{sent['messageId']}")

    assert resp.status_code == 200 and resp.json()["id"] == sent["messageId"]
    validate_response("GET", f"/conversations/messages/{sent['messageId']}", 200, resp.json(), gaps=("unset-as-null",))
