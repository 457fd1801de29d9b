from ghl_sandbox import constants as c

LOC = c.DEMO_LOCATION_ID


def _create(api, **fields):
    return api.post("/contacts/", json={"locationId": LOC, **fields})


def test_create_get_update_delete(api):
    created = _create(api, firstName="Ann", lastName="Lee", email="Ann@Example.com", phone="+15035550111",
                      tags=["New-Lead"])
    assert created.status_code == 201
    contact = created.json()["contact"]
    assert contact["name"] == "Ann Lee" and contact["tags"] == ["new-lead"]
    assert contact["dateAdded"] and contact["dateUpdated"] and contact["locationId"] == LOC

    got = api.get(f"/contacts/{contact['id']}")
    updated = api.put(f"/contacts/{contact['id']}", json={"city": "Salem"})
    deleted = api.delete(f"/contacts/{contact['id']}")

    assert got.json()["contact"]["emailLowerCase"] == "ann@example.com"
    assert updated.json()["succeded"] is True and updated.json()["contact"]["city"] == "Salem"
    assert deleted.json()["succeded"] is True
    assert api.get(f"/contacts/{contact['id']}").status_code == 404


def test_update_rejects_location_id(api):
    contact = _create(api, firstName="Ann").json()["contact"]
    assert api.put(f"/contacts/{contact['id']}", json={"locationId": LOC}).status_code == 422


def test_duplicate_contact_is_400_with_meta_unless_location_allows(sandbox, api):
    first = _create(api, firstName="Ann", email="ann@example.com").json()["contact"]

    dup_email = _create(api, firstName="Other", email="ANN@example.com")
    _create(api, firstName="Bob", phone="+15035550999")
    dup_phone = _create(api, firstName="Bobby", phone="+15035550999")

    assert dup_email.status_code == 400
    body = dup_email.json()
    assert body["message"] == "This location does not allow duplicated contacts."
    assert body["meta"] == {"contactId": first["id"], "contactName": "Ann", "matchingField": "email"}
    assert dup_phone.json()["meta"]["matchingField"] == "phone"
    sandbox.control.location_settings(LOC, allowDuplicateContact=True)
    assert _create(api, firstName="Twin", email="ann@example.com").status_code == 201


def test_put_replaces_tags_and_tag_endpoints_merge_and_remove(api):
    contact = _create(api, firstName="Ann", tags=["a", "b"]).json()["contact"]
    cid = contact["id"]

    added = api.post(f"/contacts/{cid}/tags", json={"tags": ["c", "a"]})
    removed = api.delete(f"/contacts/{cid}/tags", json={"tags": ["b"]})
    replaced = api.put(f"/contacts/{cid}", json={"tags": ["z"]})

    assert added.status_code == 201 and added.json()["tags"] == ["a", "b", "c"]
    assert removed.status_code == 200 and removed.json()["tags"] == ["a", "c"]
    assert replaced.json()["contact"]["tags"] == ["z"]


def test_custom_fields_written_by_id_or_key_read_back_as_id_value(api):
    fields = api.get(f"/locations/{LOC}/customFields", params={"model": "contact"}).json()["customFields"]
    by_key = {f["fieldKey"]: f["id"] for f in fields}
    contact = _create(api, firstName="Ann", customFields=[
        {"key": "preferred_dentist", "field_value": "Dr. Who"},
        {"id": by_key["contact.insurance_provider"], "field_value": "Acme"},
    ]).json()["contact"]

    updated = api.put(f"/contacts/{contact['id']}", json={
        "customFields": [{"key": "contact.preferred_dentist", "field_value": "Dr. No"}]}).json()["contact"]

    assert sorted(contact["customFields"], key=lambda f: f["id"]) == sorted([
        {"id": by_key["contact.preferred_dentist"], "value": "Dr. Who"},
        {"id": by_key["contact.insurance_provider"], "value": "Acme"}], key=lambda f: f["id"])
    assert {f["id"]: f["value"] for f in updated["customFields"]} == {
        by_key["contact.preferred_dentist"]: "Dr. No", by_key["contact.insurance_provider"]: "Acme"}
    assert all(set(f) == {"id", "value"} for f in updated["customFields"])


def test_upsert_creates_then_updates(api):
    first = api.post("/contacts/upsert", json={"locationId": LOC, "email": "up@example.com", "firstName": "Up"})
    second = api.post("/contacts/upsert", json={"locationId": LOC, "email": "up@example.com", "lastName": "Date"})
    assert first.status_code == 200 and first.json()["new"] is True
    assert second.json()["new"] is False
    assert second.json()["contact"]["id"] == first.json()["contact"]["id"]
    assert second.json()["contact"]["name"] == "Up Date"
    assert second.json()["traceId"]


def test_search_page_pagination(api):
    seen, page = [], 1
    while True:
        body = api.post("/contacts/search", json={"locationId": LOC, "page": page, "pageLimit": 20}).json()
        assert body["total"] == 50
        if not body["contacts"]:
            break
        seen += [ct["id"] for ct in body["contacts"]]
        page += 1
    assert len(seen) == 50 == len(set(seen))


def test_search_after_pagination_each_contact_carries_search_after(api):
    seen, after = [], None
    while True:
        body = {"locationId": LOC, "pageLimit": 15, **({"searchAfter": after} if after else {})}
        contacts = api.post("/contacts/search", json=body).json()["contacts"]
        if not contacts:
            break
        assert all("searchAfter" in ct for ct in contacts)
        seen += [ct["id"] for ct in contacts]
        after = contacts[-1]["searchAfter"]
    assert len(seen) == 50 == len(set(seen))


def test_search_rejects_page_with_search_after_and_caps_pages(api):
    first = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 5}).json()["contacts"]
    both = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 5, "page": 2,
                                              "searchAfter": first[-1]["searchAfter"]})
    deep = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 100, "page": 101})
    assert both.status_code == 400 and deep.status_code == 400


def test_search_filters_and_sort(api):
    _create(api, firstName="Zed", lastName="Alpha", email="zed@filter.test", tags=["filtered"], source="zzz")
    _create(api, firstName="Amy", lastName="Beta", email="amy@filter.test", tags=["filtered"])

    tagged = api.post("/contacts/search", json={
        "locationId": LOC, "pageLimit": 10,
        "filters": [{"field": "tags", "operator": "eq", "value": "filtered"}],
        "sort": [{"field": "firstNameLowerCase", "direction": "asc"}]}).json()
    grouped = api.post("/contacts/search", json={
        "locationId": LOC, "pageLimit": 10, "filters": [{"group": "OR", "filters": [
            {"field": "email", "operator": "eq", "value": "zed@filter.test"},
            {"field": "source", "operator": "eq", "value": "nothing"}]}]}).json()
    query = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 10, "query": "amy@filter"}).json()

    assert [ct["firstNameLowerCase"] for ct in tagged["contacts"]] == ["amy", "zed"] and tagged["total"] == 2
    assert "firstName" not in tagged["contacts"][0]  # search items only carry the lower-cased names
    assert [ct["email"] for ct in grouped["contacts"]] == ["zed@filter.test"]
    assert query["total"] == 1


def test_search_duplicate(api):
    ct = _create(api, firstName="Dup", email="dup@example.com", phone="+15035557777").json()["contact"]
    by_email = api.get("/contacts/search/duplicate", params={"locationId": LOC, "email": "dup@example.com"})
    by_phone = api.get("/contacts/search/duplicate", params={"locationId": LOC, "number": "+15035557777"})
    none = api.get("/contacts/search/duplicate", params={"locationId": LOC, "email": "none@example.com"})
    assert by_email.json()["contact"]["id"] == ct["id"] == by_phone.json()["contact"]["id"]
    assert none.json()["contact"] is None


def test_phone_is_normalised_to_e164_and_matches_duplicates(api):
    contact = _create(api, firstName="Phone", phone="(503) 555-0144").json()["contact"]
    assert contact["phone"] == "+15035550144"
    dup = _create(api, firstName="Again", phone="+1 503 555 0144")
    assert dup.status_code == 400 and dup.json()["meta"]["contactId"] == contact["id"]
    found = api.get("/contacts/search/duplicate", params={"locationId": LOC, "number": "5035550144"}).json()
    assert found["contact"]["id"] == contact["id"]


def test_invalid_email_is_422(api):
    resp = _create(api, firstName="Bad", email="not-an-email")
    assert resp.status_code == 422 and resp.json()["message"] == ["email must be an email"]


def _walk(api, body: dict, page_limit: int = 7) -> tuple[list[dict], set[int]]:
    """Every contact of a search, by searchAfter; and the totals its pages reported."""
    seen, totals, after = [], set(), None
    while True:
        page = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": page_limit, **body,
                                                  **({"searchAfter": after} if after else {})}).json()
        totals.add(page["total"])
        seen += page["contacts"]
        if len(page["contacts"]) < page_limit:
            return seen, totals
        after = page["contacts"][-1]["searchAfter"]


def test_search_by_date_added_range_pages_and_counts_the_range_only(sandbox, api):
    sandbox.control.seed(locationId=LOC, contacts=12, users=0, pipelines=False, calendars=False,
                         customFields=False, contactsStartMs=1_700_000_000_000, contactsStepMs=0)
    every = _walk(api, {})[0]
    tied = [ct for ct in every if ct["searchAfter"][0] == 1_700_000_000_000]
    bounds = {"gte": "2023-11-14T22:13:20.000Z", "lt": 1_700_000_000_001}  # that millisecond, ISO and epoch ms
    fast, fast_totals = _walk(api, {"filters": [{"field": "dateAdded", "operator": "range", "value": bounds}]})
    # A filter on another field takes the general path, which the SQL one must agree with.
    general, general_totals = _walk(api, {"filters": [
        {"field": "dateAdded", "operator": "range", "value": bounds}, {"field": "id", "operator": "exists"}]})
    descending = _walk(api, {"filters": [{"field": "dateAdded", "operator": "range", "value": bounds}],
                             "sort": [{"field": "dateAdded", "direction": "desc"}]})[0]
    before = _walk(api, {"filters": [{"field": "dateAdded", "operator": "range",
                                      "value": {"lt": 1_700_000_000_000}}]})[0]

    assert len(tied) == 12
    assert [ct["id"] for ct in fast] == [ct["id"] for ct in general] == [ct["id"] for ct in tied]
    assert [ct["id"] for ct in descending] == [ct["id"] for ct in reversed(tied)]
    assert fast_totals == general_totals == {12}
    assert len(before) + len(tied) + len(_walk(api, {"filters": [
        {"field": "dateAdded", "operator": "range", "value": {"gt": 1_700_000_000_000}}]})[0]) == len(every)


def test_search_by_date_added_rejects_a_date_it_cannot_read(api):
    response = api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 5, "filters": [
        {"field": "dateAdded", "operator": "range", "value": {"gte": "last tuesday"}}]})
    assert response.status_code == 422 and "dateAdded" in str(response.json()["message"])
