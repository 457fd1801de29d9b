"""The unfiltered contact search reuses each contact's encoded item; every write must still show at once."""
import json
import threading

from ghl_sandbox import constants as c
from ghl_sandbox.store import RowCache, Store

LOC = c.DEMO_LOCATION_ID


def _search(api, **body) -> dict:
    resp = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 100, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _by_id(page: dict) -> dict:
    return {ct["id"]: ct for ct in page["contacts"]}


def test_search_shows_api_updates_tag_changes_and_deletes(api):
    # given: every contact's item is cached by a first search
    first = _search(api)
    a, b, d = (ct["id"] for ct in first["contacts"][:3])

    # when
    api.put(f"/contacts/{a}", json={"city": "Salem", "firstName": "Zoe"})
    api.post(f"/contacts/{b}/tags", json={"tags": ["cached-tag"]})
    api.delete(f"/contacts/{d}")
    after = _by_id(_search(api))

    # then
    assert after[a]["city"] == "Salem" and after[a]["firstNameLowerCase"] == "zoe"
    assert "cached-tag" in after[b]["tags"]
    assert d not in after and len(after) == len(first["contacts"]) - 1
    assert after[a] == {**_by_id(first)[a], **{k: after[a][k] for k in
                                                ("city", "firstNameLowerCase", "name", "fullNameLowerCase",
                                                 "dateUpdated")}}


def test_search_shows_changes_made_through_the_control_api(sandbox, api):
    # given
    first = _search(api)
    a, b, d = (ct["id"] for ct in first["contacts"][:3])

    # when
    sandbox.control.change_contact("update", contactId=a, email="new@cache.test")
    sandbox.control.change_contact("tags", contactId=b, add=["from-ghl"])
    sandbox.control.change_contact("dnd", contactId=b, dnd=True)
    sandbox.control.change_contact("delete", contactId=d)
    created = sandbox.control.change_contact("create", locationId=LOC, firstName="Fresh")["contact"]
    after = _by_id(_search(api))

    # then
    assert after[a]["email"] == "new@cache.test"
    assert "from-ghl" in after[b]["tags"] and after[b]["dnd"] is True
    assert d not in after
    assert after[created["id"]]["firstNameLowerCase"] == "fresh"


def test_search_after_reset_and_reseed_shows_the_new_contacts(sandbox, api):
    # given
    old_ids = set(_by_id(_search(api)))

    # when
    sandbox.control.reset(seed="demo")
    fresh_api_token = sandbox.location_token(LOC)["access_token"]
    api.token = fresh_api_token
    new = _search(api)

    # then
    assert new["total"] == 50 and not old_ids & set(_by_id(new))


def test_search_items_equal_the_contacts_as_stored(sandbox, api):
    # given: the slow (filtered) path builds items from scratch; the fast path from its cache
    api.post("/contacts/upsert", json={"locationId": LOC, "email": "x@cache.test", "firstName": "X"})
    for _ in range(2):  # the second round is served from the cache
        fast = _by_id(_search(api))
        slow = _by_id(_search(api, filters=[{"field": "dnd", "operator": "eq", "value": False}]))

        # then: the same items, and the body exactly as json.dumps writes it
        assert fast == slow
        raw = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 100})
        assert raw.text == json.dumps(raw.json())


def test_row_cache_never_serves_a_value_for_another_version_of_the_row():
    # given
    calls = []
    cache = RowCache(lambda ms, doc: calls.append(doc) or json.dumps([ms, doc]))
    v1, v2 = json.dumps({"id": "a", "n": 1}), json.dumps({"id": "a", "n": 2})

    # when
    first = cache.get(1, "a", v1)
    again = cache.get(1, "a", v1)
    changed = cache.get(1, "a", v2)
    resorted = cache.get(2, "a", v2)
    back = cache.get(1, "a", v1)

    # then
    assert first == again == back == '[1, {"id": "a", "n": 1}]'
    assert changed == '[1, {"id": "a", "n": 2}]' and resorted == '[2, {"id": "a", "n": 2}]'
    assert len(calls) == 4


def test_row_cache_under_concurrent_writes_ends_with_the_last_write():
    # given
    store = Store(":memory:")
    cache = store.row_cache("contact", lambda ms, doc: doc["n"])
    store.put("contact", {"id": "a", "n": 0}, location_id="L", sort_ms=1)
    stop = threading.Event()

    def write():
        for n in range(1, 301):
            store.put("contact", {"id": "a", "n": n}, location_id="L", sort_ms=1)
        stop.set()

    def read():
        while not stop.is_set():
            [cache.get(*row) for row in store.page_rows("contact", "L", limit=10)]

    readers = [threading.Thread(target=read) for _ in range(3)]
    writer = threading.Thread(target=write)

    # when
    for t in [*readers, writer]:
        t.start()
    for t in [*readers, writer]:
        t.join()

    # then
    assert [cache.get(*row) for row in store.page_rows("contact", "L", limit=10)] == [300]
    store.close()
