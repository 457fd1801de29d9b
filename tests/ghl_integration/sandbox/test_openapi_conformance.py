"""Sandbox responses validate against GHL's OpenAPI response schemas.

Departures are named where they occur (REFERENCE.md §i where it lists them): unset fields are `null` in
the sandbox but absent in GHL (compared via `drop_nulls`); the contacts search and duplicate-search responses
are untyped in the spec (§i.7, §i.8), so those are checked against the shapes REFERENCE.md §c gives instead.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ghl_sandbox import constants as c

from .openapi import OPENAPI_DIR, validate

LOC = c.DEMO_LOCATION_ID
# The contact schemas type `attachments` as a string; the webhook examples (and the sandbox) use an array [gap].
CONTACT_DEPARTURES = ("contact.attachments",)
# §i.9: pipeline `stages` is typed as an array of arrays; the sandbox serves objects {id, name, position}.
PIPELINE_DEPARTURES = ("pipelines.stages",)
# CalendarEventDTO types the four times as objects; every example and REFERENCE.md §f use ISO strings [gap].
EVENT_TIMES = ("startTime", "endTime", "dateAdded", "dateUpdated")
EVENT_DEPARTURES = tuple(f"event.{k}" for k in EVENT_TIMES)
EVENTS_DEPARTURES = tuple(f"events.{k}" for k in EVENT_TIMES)


def test_oauth_responses(sandbox, make_api):
    tokens = sandbox.location_token()
    validate(tokens, "oauth", "POST", "/oauth/token")
    agency = make_api(sandbox.company_token()["access_token"])
    minted = agency.request("POST", "/oauth/locationToken", data={"companyId": c.DEMO_COMPANY_ID,
                                                                  "locationId": LOC}).json()
    validate(minted, "oauth", "POST", "/oauth/locationToken")
    installed = agency.get("/oauth/installedLocations", params={"companyId": c.DEMO_COMPANY_ID,
                                                                "appId": c.SANDBOX_APP_ID}).json()
    validate(installed, "oauth", "GET", "/oauth/installedLocations")


def test_location_user_and_custom_field_responses(api):
    validate(api.get(f"/locations/{LOC}").json(), "locations", "GET", "/locations/{locationId}")
    validate(api.get(f"/locations/{LOC}/customFields").json(), "locations", "GET",
             "/locations/{locationId}/customFields")
    users = api.get("/users/search", params={"companyId": c.DEMO_COMPANY_ID, "locationId": LOC}).json()
    validate(users, "users", "GET", "/users/search")
    validate(api.get(f"/users/{users['users'][0]['id']}").json(), "users", "GET", "/users/{userId}")


def test_contact_responses(api):
    created = api.post("/contacts/", json={"locationId": LOC, "firstName": "Spec", "email": "spec@example.com",
                                           "tags": ["x"]})
    validate(created.json(), "contacts", "POST", "/contacts/", 201, departures=CONTACT_DEPARTURES)
    cid = created.json()["contact"]["id"]
    validate(api.get(f"/contacts/{cid}").json(), "contacts", "GET", "/contacts/{contactId}",
             departures=CONTACT_DEPARTURES)
    validate(api.put(f"/contacts/{cid}", json={"lastName": "Check"}).json(), "contacts", "PUT",
             "/contacts/{contactId}", departures=CONTACT_DEPARTURES)
    validate(api.post("/contacts/upsert", json={"locationId": LOC, "email": "spec@example.com"}).json(),
             "contacts", "POST", "/contacts/upsert", departures=CONTACT_DEPARTURES)
    validate(api.post(f"/contacts/{cid}/tags", json={"tags": ["y"]}).json(), "contacts", "POST",
             "/contacts/{contactId}/tags", 201)
    validate(api.delete(f"/contacts/{cid}/tags", json={"tags": ["y"]}).json(), "contacts", "DELETE",
             "/contacts/{contactId}/tags")
    # §i.7: POST /contacts/search is untyped in the spec; REFERENCE.md §c documents {contacts, total}.
    found = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 5}).json()
    assert isinstance(found["contacts"], list) and isinstance(found["total"], int)
    validate(api.delete(f"/contacts/{cid}").json(), "contacts", "DELETE", "/contacts/{contactId}")


def test_opportunity_responses(api):
    pipelines = api.get("/opportunities/pipelines", params={"locationId": LOC}).json()
    validate(pipelines, "opportunities", "GET", "/opportunities/pipelines", departures=PIPELINE_DEPARTURES)
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Opp"}).json()["contact"]
    created = api.post("/opportunities/", json={"locationId": LOC, "pipelineId": c.DEMO_PIPELINE_ID, "name": "D",
                                                "status": "open", "contactId": contact["id"]})
    validate(created.json(), "opportunities", "POST", "/opportunities/", 201)
    oid = created.json()["opportunity"]["id"]
    validate(api.get(f"/opportunities/{oid}").json(), "opportunities", "GET", "/opportunities/{id}")
    validate(api.put(f"/opportunities/{oid}/status", json={"status": "won"}).json(), "opportunities", "PUT",
             "/opportunities/{id}/status")
    validate(api.get("/opportunities/search", params={"location_id": LOC}).json(), "opportunities", "GET",
             "/opportunities/search")
    validate(api.post("/opportunities/search", json={"locationId": LOC, "limit": 5}).json(), "opportunities",
             "POST", "/opportunities/search")
    validate(api.post("/opportunities/upsert", json={"locationId": LOC, "pipelineId": c.DEMO_PIPELINE_ID,
                                                     "contactId": contact["id"]}).json(),
             "opportunities", "POST", "/opportunities/upsert")


def test_conversation_responses(api):
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Conv", "phone": "+15035550777",
                                           "email": "conv@example.com"}).json()["contact"]
    created = api.post("/conversations/", json={"locationId": LOC, "contactId": contact["id"]})
    validate(created.json(), "conversations", "POST", "/conversations/", 201)
    conv_id = created.json()["conversation"]["id"]
    sent = api.post("/conversations/messages", json={"type": "SMS", "contactId": contact["id"], "message": "Hi"})
    validate(sent.json(), "conversations", "POST", "/conversations/messages")
    inbound = api.post("/conversations/messages/inbound", json={"type": "SMS", "conversationId": conv_id,
                                                                "contactId": contact["id"], "message": "Yo"})
    validate(inbound.json(), "conversations", "POST", "/conversations/messages/inbound")
    validate(api.get(f"/conversations/{conv_id}").json(), "conversations", "GET", "/conversations/{conversationId}")
    validate(api.get("/conversations/search", params={"locationId": LOC}).json(), "conversations", "GET",
             "/conversations/search")
    status = api.put(f"/conversations/messages/{sent.json()['messageId']}/status", json={"status": "delivered"})
    validate(status.json(), "conversations", "PUT", "/conversations/messages/{messageId}/status")
    # §i.3: the spec-2026 schema is the flat form; the sandbox answers in the wrapped (spec-2025) form by default.
    wrapped = api.get(f"/conversations/{conv_id}/messages").json()
    validate(wrapped["messages"], "conversations", "GET", "/conversations/{conversationId}/messages")


def test_calendar_responses(api):
    validate(api.get("/calendars/", params={"locationId": LOC}).json(), "calendars", "GET", "/calendars/")
    validate(api.get(f"/calendars/{c.DEMO_CALENDAR_ID}").json(), "calendars", "GET", "/calendars/{calendarId}")
    tz = ZoneInfo("America/New_York")
    today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today + timedelta(days=7 - today.weekday())
    slots = api.get(f"/calendars/{c.DEMO_CALENDAR_ID}/free-slots",
                    params={"startDate": int(monday.timestamp() * 1000),
                            "endDate": int((monday + timedelta(days=1)).timestamp() * 1000)}).json()
    slots.pop("traceId")  # every response carries traceId, but the spec keys this object by date only
    validate(slots, "calendars", "GET", "/calendars/{calendarId}/free-slots")
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Cal"}).json()["contact"]
    appt = api.post("/calendars/events/appointments", json={
        "calendarId": c.DEMO_CALENDAR_ID, "locationId": LOC, "contactId": contact["id"],
        "startTime": monday.replace(hour=9).isoformat()}).json()
    validate(appt, "calendars", "POST", "/calendars/events/appointments")
    validate(api.get(f"/calendars/events/appointments/{appt['id']}").json(), "calendars", "GET",
             "/calendars/events/appointments/{eventId}", departures=EVENT_DEPARTURES)
    validate(api.get("/calendars/events", params={"locationId": LOC, "calendarId": c.DEMO_CALENDAR_ID,
                                                  "startTime": int(monday.timestamp() * 1000),
                                                  "endTime": int((monday + timedelta(days=1)).timestamp() * 1000)}
                     ).json(), "calendars", "GET", "/calendars/events", departures=EVENTS_DEPARTURES)
    validate(api.delete(f"/calendars/events/{appt['id']}", json={}).json(), "calendars", "DELETE",
             "/calendars/events/{eventId}", 201)


def test_error_bodies_match_common_schemas(api, make_api):
    from .openapi import _load, _resolve

    common = OPENAPI_DIR / "common" / "common-schemas.json"

    def schema(name):
        return _resolve(_load(common)["components"]["schemas"][name], common)

    import jsonschema

    jsonschema.validate(make_api(None).get(f"/locations/{LOC}").json(), schema("UnauthorizedDTO"))
    jsonschema.validate(api.get(f"/locations/{LOC}", version=None).json(), schema("BadRequestDTO"))
    jsonschema.validate(api.post("/opportunities/", json={"locationId": LOC}).json(), schema("UnprocessableDTO"))
