"""Pin the exact request the client sends for every operation (REFERENCE.md), and check both the request and the
stubbed response against GHL's OpenAPI specs. Known spec gaps (REFERENCE §i) are named per case."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.ghl_integration.openapi_contract import validate_prepared_request, validate_response

from .conftest import BASE_URL, LOCATION_ID, TOKEN, api_fixture

V1 = "2021-07-28"
V2 = "2021-04-15"
CONTACT_ID = "ocQHyuzHvysMo5N5VsXc"
OPP_ID = "yWQobCRIhRguQtD2llvk"
START = datetime(2026, 11, 27, tzinfo=UTC)
END = datetime(2026, 11, 29, tzinfo=UTC)


@dataclass
class Case:
    id: str
    call: Any
    method: str
    path: str
    version: str
    fixture: str
    status: int = 200
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None
    request_gaps: tuple[str, ...] = ()
    response_gaps: tuple[str, ...] = ()
    check: Any = None


CASES = [
    # -- contacts (REFERENCE §c) --------------------------------------------------------------------------------
    Case(
        "contacts.get",
        lambda c: c.contacts.get(CONTACT_ID),
        "GET",
        f"/contacts/{CONTACT_ID}",
        V1,
        "contact",
        check=lambda r: r["id"] == CONTACT_ID,
    ),
    Case(
        "contacts.search",
        lambda c: c.contacts.search(
            filters=[{"field": "tags", "operator": "eq", "value": "vip"}],
            query="ada",
            sort=[{"field": "dateAdded", "direction": "desc"}],
            page=2,
            page_limit=50,
        ),
        "POST",
        "/contacts/search",
        V1,
        "conversation_search",
        body={
            "locationId": LOCATION_ID,
            "pageLimit": 50,
            "page": 2,
            "filters": [{"field": "tags", "operator": "eq", "value": "vip"}],
            "sort": [{"field": "dateAdded", "direction": "desc"}],
            "query": "ada",
        },
        request_gaps=("contacts-search-body-untyped",),
    ),
    Case(
        "contacts.search_after",
        lambda c: c.contacts.search(search_after=[1764000000000, "abc"], page_limit=100),
        "POST",
        "/contacts/search",
        V1,
        "conversation_search",
        body={"locationId": LOCATION_ID, "pageLimit": 100, "searchAfter": [1764000000000, "abc"]},
        request_gaps=("contacts-search-body-untyped",),
    ),
    Case(
        "contacts.create",
        lambda c: c.contacts.create(
            {
                "firstName": "Ada",
                "email": "ada@example.com",
                "customFields": [{"id": "MgobCB14YMVKuE4Ka8p1", "field_value": "blue"}],
            }
        ),
        "POST",
        "/contacts/",
        V1,
        "contact_create",
        status=201,
        body={
            "firstName": "Ada",
            "email": "ada@example.com",
            "locationId": LOCATION_ID,
            "customFields": [{"id": "MgobCB14YMVKuE4Ka8p1", "field_value": "blue"}],
        },
        check=lambda r: r["id"] == CONTACT_ID,
    ),
    Case(
        "contacts.update",
        lambda c: c.contacts.update(CONTACT_ID, {"lastName": "Byron", "locationId": "ignored"}),
        "PUT",
        f"/contacts/{CONTACT_ID}",
        V1,
        "contact_update",
        body={"lastName": "Byron"},
        check=lambda r: r["id"] == CONTACT_ID,
    ),
    Case(
        "contacts.upsert",
        lambda c: c.contacts.upsert({"email": "ada@example.com"}, create_new_if_duplicate_allowed=False),
        "POST",
        "/contacts/upsert",
        V1,
        "contact_upsert",
        body={"email": "ada@example.com", "locationId": LOCATION_ID, "createNewIfDuplicateAllowed": False},
        check=lambda r: r["new"] is False and r["contact"]["id"] == CONTACT_ID,
    ),
    Case(
        "contacts.delete",
        lambda c: c.contacts.delete(CONTACT_ID),
        "DELETE",
        f"/contacts/{CONTACT_ID}",
        V1,
        "succeded",
        check=lambda r: r is True,
    ),
    Case(
        "contacts.add_tags",
        lambda c: c.contacts.add_tags(CONTACT_ID, ["hot-lead"]),
        "POST",
        f"/contacts/{CONTACT_ID}/tags",
        V1,
        "contact_tags",
        status=201,
        body={"tags": ["hot-lead"]},
        check=lambda r: "hot-lead" in r,
    ),
    Case(
        "contacts.remove_tags",
        lambda c: c.contacts.remove_tags(CONTACT_ID, ["vip"]),
        "DELETE",
        f"/contacts/{CONTACT_ID}/tags",
        V1,
        "contact_tags",
        body={"tags": ["vip"]},
    ),
    Case(
        "contacts.find_duplicate",
        lambda c: c.contacts.find_duplicate(email="ada@example.com", phone="+14155550100"),
        "GET",
        "/contacts/search/duplicate",
        V1,
        "contact_duplicate",
        query={"locationId": [LOCATION_ID], "email": ["ada@example.com"], "number": ["+14155550100"]},
        check=lambda r: r["id"] == CONTACT_ID,
    ),
    # -- conversations (REFERENCE §d) ----------------------------------------------------------------------------
    Case(
        "conversations.search",
        lambda c: c.conversations.search(
            contact_id=CONTACT_ID, status="unread", limit=50, start_after_date=1764000000000
        ),
        "GET",
        "/conversations/search",
        V2,
        "conversation_search",
        query={
            "locationId": [LOCATION_ID],
            "contactId": [CONTACT_ID],
            "status": ["unread"],
            "limit": ["50"],
            "startAfterDate": ["1764000000000"],
        },
    ),
    Case(
        "conversations.get",
        lambda c: c.conversations.get("tDtDnQdgm2LXpyiqYvZ6"),
        "GET",
        "/conversations/tDtDnQdgm2LXpyiqYvZ6",
        V2,
        "conversation",
        check=lambda r: r["type"] == 1,
    ),
    Case(
        "conversations.list_messages.wrapped",
        lambda c: c.conversations.list_messages(
            "tDtDnQdgm2LXpyiqYvZ6", last_message_id="m0", limit=50, types=["TYPE_SMS", "TYPE_EMAIL"]
        ),
        "GET",
        "/conversations/tDtDnQdgm2LXpyiqYvZ6/messages",
        V2,
        "messages__wrapped",
        query={"lastMessageId": ["m0"], "limit": ["50"], "type": ["TYPE_SMS,TYPE_EMAIL"]},
        request_gaps=("messages-type-comma-list",),
        response_gaps=("messages-list-wrapped",),
        check=lambda r: len(r["messages"]) == 1 and r["nextPage"] is False,
    ),
    Case(
        "conversations.list_messages.flat",
        lambda c: c.conversations.list_messages("tDtDnQdgm2LXpyiqYvZ6"),
        "GET",
        "/conversations/tDtDnQdgm2LXpyiqYvZ6/messages",
        V2,
        "messages__flat",
        query={"limit": ["20"]},
        check=lambda r: r["lastMessageId"] == "p1mRSHeLDhAms5q0LMr4" and len(r["messages"]) == 1,
    ),
    Case(
        "conversations.send_sms",
        lambda c: c.conversations.send_sms(CONTACT_ID, "Hi Ada", from_number="+14155550199"),
        "POST",
        "/conversations/messages",
        V2,
        "send_message__sms",
        body={"type": "SMS", "contactId": CONTACT_ID, "message": "Hi Ada", "fromNumber": "+14155550199"},
        request_gaps=("send-message-subtype-status",),
        check=lambda r: r["messageId"],
    ),
    Case(
        "conversations.send_email",
        lambda c: c.conversations.send_email(
            CONTACT_ID, subject="Your visit", html="<p>Hi</p>", email_cc=["boss@acme.example"], thread_id="th1"
        ),
        "POST",
        "/conversations/messages",
        V2,
        "send_message__email",
        body={
            "type": "Email",
            "contactId": CONTACT_ID,
            "subject": "Your visit",
            "html": "<p>Hi</p>",
            "emailCc": ["boss@acme.example"],
            "threadId": "th1",
        },
        request_gaps=("send-message-subtype-status",),
        check=lambda r: r["emailMessageId"],
    ),
    Case(
        "conversations.send_whatsapp",
        lambda c: c.conversations.send_whatsapp(CONTACT_ID, template_id="tpl_1"),
        "POST",
        "/conversations/messages",
        V2,
        "send_message__sms",
        body={"type": "WhatsApp", "contactId": CONTACT_ID, "templateId": "tpl_1"},
        request_gaps=("send-message-subtype-status",),
    ),
    Case(
        "conversations.update_message_status",
        lambda c: c.conversations.update_message_status(
            "t22c6DQcTDf3MjRhwf77", "failed", error={"code": "1", "type": "saas", "message": "carrier rejected"}
        ),
        "PUT",
        "/conversations/messages/t22c6DQcTDf3MjRhwf77/status",
        V2,
        "message_status",
        body={"status": "failed", "error": {"code": "1", "type": "saas", "message": "carrier rejected"}},
    ),
    # -- opportunities (REFERENCE §e) ----------------------------------------------------------------------------
    Case(
        "opportunities.pipelines",
        lambda c: c.opportunities.pipelines(),
        "GET",
        "/opportunities/pipelines",
        V1,
        "pipelines",
        query={"locationId": [LOCATION_ID]},
        response_gaps=("pipeline-stages-untyped",),
        check=lambda r: r[0]["stages"][0]["name"] == "New lead",
    ),
    Case(
        "opportunities.search",
        lambda c: c.opportunities.search(
            pipeline_id="bCkKGpDsyPP4peuKowkG", status="open", contact_id=CONTACT_ID, limit=100
        ),
        "GET",
        "/opportunities/search",
        V1,
        "opportunity_search",
        query={
            "location_id": [LOCATION_ID],
            "pipeline_id": ["bCkKGpDsyPP4peuKowkG"],
            "status": ["open"],
            "contact_id": [CONTACT_ID],
            "limit": ["100"],
        },
    ),
    Case(
        "opportunities.get",
        lambda c: c.opportunities.get(OPP_ID),
        "GET",
        f"/opportunities/{OPP_ID}",
        V1,
        "opportunity",
        check=lambda r: r["id"] == OPP_ID,
    ),
    Case(
        "opportunities.create",
        lambda c: c.opportunities.create(
            {
                "pipelineId": "bCkKGpDsyPP4peuKowkG",
                "name": "Redesign",
                "status": "open",
                "contactId": CONTACT_ID,
                "monetaryValue": 2200,
            }
        ),
        "POST",
        "/opportunities/",
        V1,
        "opportunity",
        status=201,
        body={
            "pipelineId": "bCkKGpDsyPP4peuKowkG",
            "name": "Redesign",
            "status": "open",
            "contactId": CONTACT_ID,
            "monetaryValue": 2200,
            "locationId": LOCATION_ID,
        },
    ),
    Case(
        "opportunities.update",
        lambda c: c.opportunities.update(OPP_ID, {"pipelineStageId": "0c2a9e1d-3c42-4a7e-a51b-6d2f1e6b9a01"}),
        "PUT",
        f"/opportunities/{OPP_ID}",
        V1,
        "opportunity",
        body={"pipelineStageId": "0c2a9e1d-3c42-4a7e-a51b-6d2f1e6b9a01"},
    ),
    Case(
        "opportunities.update_status",
        lambda c: c.opportunities.update_status(OPP_ID, "lost", lost_reason_id="lr1"),
        "PUT",
        f"/opportunities/{OPP_ID}/status",
        V1,
        "succeded",
        body={"status": "lost", "lostReasonId": "lr1"},
        check=lambda r: r is True,
    ),
    Case(
        "opportunities.upsert.2026",
        lambda c: c.opportunities.upsert(
            {
                "id": OPP_ID,
                "pipelineId": "bCkKGpDsyPP4peuKowkG",
                "name": "Redesign",
                "status": "open",
                "followers": [],
                "isRemoveAllFollowers": False,
                "followersActionType": "add",
            }
        ),
        "POST",
        "/opportunities/upsert",
        V1,
        "opportunity_upsert",
        body={
            "id": OPP_ID,
            "pipelineId": "bCkKGpDsyPP4peuKowkG",
            "name": "Redesign",
            "status": "open",
            "followers": [],
            "isRemoveAllFollowers": False,
            "followersActionType": "add",
            "locationId": LOCATION_ID,
        },
        check=lambda r: r["new"] is True,
    ),
    Case(
        "opportunities.upsert.2025",
        lambda c: c.opportunities.upsert(
            {"pipelineId": "bCkKGpDsyPP4peuKowkG", "contactId": CONTACT_ID, "name": "Redesign", "monetaryValue": 2200}
        ),
        "POST",
        "/opportunities/upsert",
        V1,
        "opportunity_upsert",
        body={
            "pipelineId": "bCkKGpDsyPP4peuKowkG",
            "contactId": CONTACT_ID,
            "name": "Redesign",
            "monetaryValue": 2200,
            "locationId": LOCATION_ID,
        },
        request_gaps=("opportunity-upsert-2025", "object-typed-scalar"),
    ),
    Case(
        "opportunities.delete",
        lambda c: c.opportunities.delete(OPP_ID),
        "DELETE",
        f"/opportunities/{OPP_ID}",
        V1,
        "succeded",
        check=lambda r: r is True,
    ),
    # -- calendars (REFERENCE §f) --------------------------------------------------------------------------------
    Case(
        "calendars.list",
        lambda c: c.calendars.list(show_drafted=False),
        "GET",
        "/calendars/",
        V2,
        "calendars",
        query={"locationId": [LOCATION_ID], "showDrafted": ["false"]},
        check=lambda r: r[0]["name"],
    ),
    Case(
        "calendars.free_slots",
        lambda c: c.calendars.free_slots("BqTwX8QFwXzpegMve9EQ", start=START, end=END, timezone="America/New_York"),
        "GET",
        "/calendars/BqTwX8QFwXzpegMve9EQ/free-slots",
        V2,
        "free_slots",
        query={
            "startDate": [str(int(START.timestamp() * 1000))],
            "endDate": [str(int(END.timestamp() * 1000))],
            "timezone": ["America/New_York"],
        },
        response_gaps=("free-slots-extra-keys",),
        check=lambda r: sorted(r) == ["2026-11-27", "2026-11-28"] and len(r["2026-11-27"]) == 2,
    ),
    Case(
        "calendars.events",
        lambda c: c.calendars.events(start=START, end=END, calendar_id="BqTwX8QFwXzpegMve9EQ"),
        "GET",
        "/calendars/events",
        V2,
        "calendar_events",
        query={
            "locationId": [LOCATION_ID],
            "startTime": [str(int(START.timestamp() * 1000))],
            "endTime": [str(int(END.timestamp() * 1000))],
            "calendarId": ["BqTwX8QFwXzpegMve9EQ"],
        },
        response_gaps=("object-typed-scalar",),
        check=lambda r: r[0]["title"],
    ),
    Case(
        "calendars.get_appointment",
        lambda c: c.calendars.get_appointment("ocQHyuzHvysMo5N5VsXc"),
        "GET",
        "/calendars/events/appointments/ocQHyuzHvysMo5N5VsXc",
        V2,
        "appointment_event",
        response_gaps=("object-typed-scalar",),
        check=lambda r: r["calendarId"] == "BqTwX8QFwXzpegMve9EQ",
    ),
    Case(
        "calendars.create_appointment",
        lambda c: c.calendars.create_appointment(
            {
                "calendarId": "BqTwX8QFwXzpegMve9EQ",
                "contactId": CONTACT_ID,
                "startTime": "2026-11-27T10:00:00-05:00",
                "title": "Discovery call with Ada",
            }
        ),
        "POST",
        "/calendars/events/appointments",
        V2,
        "appointment",
        body={
            "calendarId": "BqTwX8QFwXzpegMve9EQ",
            "contactId": CONTACT_ID,
            "startTime": "2026-11-27T10:00:00-05:00",
            "title": "Discovery call with Ada",
            "locationId": LOCATION_ID,
        },
        check=lambda r: r["id"] == "0TkCdp9PfvLeWKYRRvIz",
    ),
    Case(
        "calendars.update_appointment",
        lambda c: c.calendars.update_appointment("0TkCdp9PfvLeWKYRRvIz", {"appointmentStatus": "cancelled"}),
        "PUT",
        "/calendars/events/appointments/0TkCdp9PfvLeWKYRRvIz",
        V2,
        "appointment",
        body={"appointmentStatus": "cancelled"},
    ),
    Case(
        "calendars.delete_event",
        lambda c: c.calendars.delete_event("0TkCdp9PfvLeWKYRRvIz"),
        "DELETE",
        "/calendars/events/0TkCdp9PfvLeWKYRRvIz",
        V2,
        "delete_event",
        status=201,
        body={},
        check=lambda r: r is True,
    ),
    # -- locations, users (REFERENCE §g) -------------------------------------------------------------------------
    Case(
        "locations.get",
        lambda c: c.locations.get(),
        "GET",
        f"/locations/{LOCATION_ID}",
        V1,
        "location",
        check=lambda r: r["settings"]["allowDuplicateContact"] is False,
    ),
    Case(
        "locations.custom_fields",
        lambda c: c.locations.custom_fields(model="contact"),
        "GET",
        f"/locations/{LOCATION_ID}/customFields",
        V1,
        "custom_fields",
        query={"model": ["contact"]},
        check=lambda r: r[0]["fieldKey"] == "contact.favourite_colour",
    ),
    Case("users.list", lambda c: c.users.list(), "GET", "/users/", V1, "users", query={"locationId": [LOCATION_ID]}),
    Case(
        "users.get",
        lambda c: c.users.get("082goXVW3lIExEQPOnd3"),
        "GET",
        "/users/082goXVW3lIExEQPOnd3",
        V1,
        "user",
        check=lambda r: r["name"] == "Grace Hopper",
    ),
    Case(
        "users.search",
        lambda c: c.users.search(company_id="5DP4iH6HLkQsiKESj6rh", query="grace"),
        "GET",
        "/users/search",
        V1,
        "users_search",
        query={
            "companyId": ["5DP4iH6HLkQsiKESj6rh"],
            "locationId": [LOCATION_ID],
            "query": ["grace"],
            "skip": ["0"],
            "limit": ["25"],
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_request_is_exactly_what_reference_documents(case, client, rsps):
    # given
    rsps.add(case.method, BASE_URL + case.path, json=api_fixture(case.fixture), status=case.status)

    # when
    result = case.call(client)

    # then: the wire request
    assert len(rsps.calls) == 1
    request = rsps.calls[0].request
    url = urlsplit(request.url)
    assert request.method == case.method
    assert url.path == case.path
    assert parse_qs(url.query) == case.query
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Version"] == case.version
    assert request.headers["Accept"] == "application/json"
    if case.body is None:
        assert not request.body
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.body) == case.body
    # then: both sides match GHL's OpenAPI operation
    validate_prepared_request(request, gaps=case.request_gaps)
    if case.fixture != "conversation_search" or case.path == "/conversations/search":
        validate_response(case.method, case.path, case.status, api_fixture(case.fixture), gaps=case.response_gaps)
    if case.check:
        assert case.check(result), result


def test_every_operation_in_the_issue_is_pinned():
    pinned = {c.id.split(".")[0] + "." + c.id.split(".")[1] for c in CASES}
    required = {
        "contacts.get",
        "contacts.search",
        "contacts.create",
        "contacts.update",
        "contacts.upsert",
        "contacts.delete",
        "contacts.add_tags",
        "contacts.remove_tags",
        "contacts.find_duplicate",
        "conversations.search",
        "conversations.get",
        "conversations.list_messages",
        "conversations.send_sms",
        "conversations.send_email",
        "conversations.send_whatsapp",
        "conversations.update_message_status",
        "opportunities.pipelines",
        "opportunities.search",
        "opportunities.get",
        "opportunities.create",
        "opportunities.update",
        "opportunities.update_status",
        "opportunities.upsert",
        "opportunities.delete",
        "calendars.list",
        "calendars.free_slots",
        "calendars.events",
        "calendars.get_appointment",
        "calendars.create_appointment",
        "calendars.update_appointment",
        "calendars.delete_event",
        "locations.get",
        "locations.custom_fields",
        "users.list",
        "users.get",
        "users.search",
    }
    assert required <= pinned


def test_the_session_takes_proxy_settings_for_ghls_host_from_the_environment_once(monkeypatch):
    from ghl_integration.client.base import make_session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "sandbox.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")

    proxied = make_session("https://services.leadconnectorhq.com")
    bypassed = make_session("https://sandbox.internal:8100")

    assert proxied.proxies.get("https") == "http://proxy.internal:3128"
    assert proxied.verify == "/etc/ssl/company-ca.pem"
    assert not bypassed.proxies.get("https")
    # read once: the environment is not consulted again on each request
    assert proxied.trust_env is False
