"""Each pagination iterator walks every page with the right cursor, and stops."""

import json
from urllib.parse import parse_qs, urlsplit

import responses

from ghl_integration.client.pagination import iter_meta_keyset, iter_offset, iter_search_after
from tests.ghl_integration.openapi_contract import validate_prepared_request, validate_response

from .conftest import BASE_URL, LOCATION_ID, api_fixture

CONVERSATION_ID = "tDtDnQdgm2LXpyiqYvZ6"


def _contacts(start, count, *, search_after=True):
    base = api_fixture("contact")["contact"]
    items = []
    for n in range(start, start + count):
        item = {**base, "id": f"c{n:05d}"}
        if search_after:
            item["searchAfter"] = [1764000000000 + n, f"c{n:05d}"]
        items.append(item)
    return items


def _query(call):
    return parse_qs(urlsplit(call.request.url).query)


def test_contacts_iter_search_follows_search_after(client, rsps):
    # given: 237 contacts over three pages of 100
    for start, count in ((0, 100), (100, 100), (200, 37)):
        rsps.add("POST", f"{BASE_URL}/contacts/search", json={"contacts": _contacts(start, count), "total": 237})

    # when
    ids = [c["id"] for c in client.contacts.iter_search(query="ada")]

    # then
    assert ids == [f"c{n:05d}" for n in range(237)]
    bodies = [json.loads(call.request.body) for call in rsps.calls]
    assert bodies[0] == {"locationId": LOCATION_ID, "pageLimit": 100, "query": "ada"}
    assert bodies[1] == {**bodies[0], "searchAfter": [1764000000099, "c00099"]}
    assert bodies[2] == {**bodies[0], "searchAfter": [1764000000199, "c00199"]}
    for call in rsps.calls:
        validate_prepared_request(call.request, gaps=("contacts-search-body-untyped",))


def test_contacts_iter_search_falls_back_to_page_numbers(client, rsps):
    rsps.add("POST", f"{BASE_URL}/contacts/search", json={"contacts": _contacts(0, 50, search_after=False)})
    rsps.add("POST", f"{BASE_URL}/contacts/search", json={"contacts": _contacts(50, 50, search_after=False)})
    rsps.add("POST", f"{BASE_URL}/contacts/search", json={"contacts": []})

    assert len(list(client.contacts.iter_search(page_size=50))) == 100
    assert [json.loads(c.request.body).get("page") for c in rsps.calls] == [None, 2, 3]


def test_contacts_iter_search_stops_at_total_on_a_full_last_page(client, rsps):
    rsps.add("POST", f"{BASE_URL}/contacts/search", json={"contacts": _contacts(0, 100), "total": 100})

    assert len(list(client.contacts.iter_search())) == 100
    assert len(rsps.calls) == 1


def test_opportunities_iter_search_follows_meta_start_after(client, rsps):
    base = api_fixture("opportunity")["opportunity"]
    page1 = {
        "opportunities": [{**base, "id": f"o{n}"} for n in range(100)],
        "meta": {"total": 130, "startAfterId": "o99", "startAfter": 1764000000099, "currentPage": 1, "nextPage": 2},
        "aggregations": {},
    }
    page2 = {
        "opportunities": [{**base, "id": f"o{n}"} for n in range(100, 130)],
        "meta": {"total": 130, "startAfterId": "o129", "startAfter": 1764000000129, "currentPage": 2},
        "aggregations": {},
    }
    rsps.add("GET", f"{BASE_URL}/opportunities/search", json=page1)
    rsps.add("GET", f"{BASE_URL}/opportunities/search", json=page2)

    ids = [o["id"] for o in client.opportunities.iter_search(pipeline_id="bCkKGpDsyPP4peuKowkG")]

    assert ids == [f"o{n}" for n in range(130)]
    assert "startAfterId" not in _query(rsps.calls[0])
    assert _query(rsps.calls[1])["startAfterId"] == ["o99"]
    assert _query(rsps.calls[1])["startAfter"] == ["1764000000099"]
    assert _query(rsps.calls[1])["pipeline_id"] == ["bCkKGpDsyPP4peuKowkG"]
    for call, page in zip(rsps.calls, (page1, page2), strict=True):
        validate_prepared_request(call.request)
        validate_response("GET", "/opportunities/search", 200, page)


def test_conversations_iter_messages_follows_last_message_id_in_both_shapes(client, rsps):
    message = api_fixture("messages__flat")["messages"][0]
    url = f"{BASE_URL}/conversations/{CONVERSATION_ID}/messages"
    wrapped = {
        "messages": {
            "lastMessageId": "m1",
            "nextPage": True,
            "messages": [{**message, "id": "m0"}, {**message, "id": "m1"}],
        }
    }
    flat = {"lastMessageId": "m2", "nextPage": False, "messages": [{**message, "id": "m2"}]}
    rsps.add("GET", url, json=wrapped)
    rsps.add("GET", url, json=flat)

    ids = [m["id"] for m in client.conversations.iter_messages(CONVERSATION_ID, page_size=2)]

    assert ids == ["m0", "m1", "m2"]
    assert "lastMessageId" not in _query(rsps.calls[0])
    assert _query(rsps.calls[1]) == {"lastMessageId": ["m1"], "limit": ["2"]}


def test_conversations_iter_search_follows_start_after_date(client, rsps):
    base = api_fixture("conversation_search")["conversations"][0]
    page1 = {"conversations": [{**base, "id": "a", "sort": [300]}, {**base, "id": "b", "sort": [200]}], "total": 3}
    page2 = {"conversations": [{**base, "id": "c", "sort": [100]}], "total": 3}
    rsps.add("GET", f"{BASE_URL}/conversations/search", json=page1)
    rsps.add("GET", f"{BASE_URL}/conversations/search", json=page2)

    ids = [c["id"] for c in client.conversations.iter_search(page_size=2, status="unread")]

    assert ids == ["a", "b", "c"]
    assert _query(rsps.calls[1])["startAfterDate"] == ["200"]
    for call in rsps.calls:
        validate_prepared_request(call.request)


def test_users_iter_search_pages_by_offset(client, rsps):
    user = api_fixture("user")
    rsps.add(
        "GET", f"{BASE_URL}/users/search", json={"users": [{**user, "id": f"u{n}"} for n in range(100)], "count": 150}
    )
    rsps.add(
        "GET",
        f"{BASE_URL}/users/search",
        json={"users": [{**user, "id": f"u{n}"} for n in range(100, 150)], "count": 150},
    )

    assert len(list(client.users.iter_search(company_id="5DP4iH6HLkQsiKESj6rh"))) == 150
    assert [_query(c)["skip"] for c in rsps.calls] == [["0"], ["100"]]
    assert [_query(c)["limit"] for c in rsps.calls] == [["100"], ["100"]]
    for call in rsps.calls:
        validate_prepared_request(call.request)


def test_iterators_stop_on_a_repeated_cursor():
    # A server that keeps returning the same cursor must not loop forever.
    page = {"opportunities": [{"id": "x"}], "meta": {"startAfterId": "x", "startAfter": 1, "nextPage": 2}}
    assert len(list(iter_meta_keyset(lambda cursor: page, items_key="opportunities"))) == 2


def test_iterators_stop_on_an_empty_page():
    assert list(iter_offset(lambda cursor: {"locations": []}, items_key="locations", page_size=10)) == []
    assert list(iter_search_after(lambda cursor: {}, items_key="contacts", page_size=10)) == []


@responses.activate
def test_iterators_are_lazy(client):
    # Nothing is requested until the caller starts iterating.
    client.contacts.iter_search()
    client.opportunities.iter_search()
    client.conversations.iter_messages(CONVERSATION_ID)
    assert len(responses.calls) == 0
