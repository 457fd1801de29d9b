"""What the client-against-sandbox contract work changed in the sandbox: the deprecated users listing, the unwrapped
message, and the cached search total that must still follow every write."""
from ghl_sandbox import constants as c
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


def test_search_total_follows_creates_and_deletes(api):
    def total():
        return api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 1}).json()["total"]

    before = total()
    created = api.post("/contacts/", json={"locationId": LOC, "firstName": "Tot"}).json()["contact"]
    after_create = total()
    api.delete(f"/contacts/{created['id']}")

    assert (before, after_create, total()) == (50, 51, 50)
