from ghl_sandbox import constants as c

LOC = c.DEMO_LOCATION_ID


def _pipeline(api):
    return api.get("/opportunities/pipelines", params={"locationId": LOC}).json()["pipelines"][0]


def _contact(api, n=0):
    return api.post("/contacts/", json={"locationId": LOC, "firstName": f"Opp{n}",
                                        "email": f"opp{n}@example.com"}).json()["contact"]


def _create(api, pipeline, contact, **fields):
    body = {"locationId": LOC, "pipelineId": pipeline["id"], "name": f"Deal {contact['firstName']}",
            "status": "open", "contactId": contact["id"], **fields}
    return api.post("/opportunities/", json=body)


def test_pipelines_have_stages_with_id_name_position(api):
    pipeline = _pipeline(api)
    assert pipeline["id"] == c.DEMO_PIPELINE_ID and pipeline["name"] == "Sales"
    assert [s["name"] for s in pipeline["stages"]][:2] == ["New Lead", "Contacted"]
    assert all(set(s) == {"id", "name", "position"} for s in pipeline["stages"])


def test_create_get_update_status_delete(api):
    pipeline, contact = _pipeline(api), _contact(api)
    created = _create(api, pipeline, contact, monetaryValue=1200)
    assert created.status_code == 201
    opp = created.json()["opportunity"]
    assert opp["pipelineStageId"] == pipeline["stages"][0]["id"] and opp["monetaryValue"] == 1200

    moved = api.put(f"/opportunities/{opp['id']}", json={"pipelineStageId": pipeline["stages"][2]["id"]})
    status = api.put(f"/opportunities/{opp['id']}/status", json={"status": "won"})
    got = api.get(f"/opportunities/{opp['id']}").json()["opportunity"]

    assert moved.json()["opportunity"]["pipelineStageId"] == pipeline["stages"][2]["id"]
    assert status.json() == {"succeded": True, "traceId": status.json()["traceId"]}
    assert got["status"] == "won" and got["contact"]["id"] == contact["id"]
    assert api.put(f"/opportunities/{opp['id']}", json={"pipelineStageId": "nope"}).status_code == 400
    assert api.delete(f"/opportunities/{opp['id']}").json()["succeded"] is True
    assert api.get(f"/opportunities/{opp['id']}").status_code == 404


def test_duplicate_opportunity_for_contact_in_pipeline_is_400(api):
    pipeline, contact = _pipeline(api), _contact(api)
    assert _create(api, pipeline, contact).status_code == 201
    assert _create(api, pipeline, contact).status_code == 400


def test_get_search_pages_with_start_after_meta(api):
    pipeline = _pipeline(api)
    ids = {_create(api, pipeline, _contact(api, n)).json()["opportunity"]["id"] for n in range(5)}
    seen, params = [], {"location_id": LOC, "limit": 2}
    while True:
        body = api.get("/opportunities/search", params=params).json()
        assert body["meta"]["total"] == 5
        seen += [o["id"] for o in body["opportunities"]]
        if not body["meta"]["nextPageUrl"]:
            break
        params = {"location_id": LOC, "limit": 2, "startAfter": body["meta"]["startAfter"],
                  "startAfterId": body["meta"]["startAfterId"]}
    assert set(seen) == ids and len(seen) == 5
    won = api.get("/opportunities/search", params={"location_id": LOC, "status": "won"}).json()
    assert won["opportunities"] == []


def test_post_search_filters_and_search_after(api):
    pipeline = _pipeline(api)
    for n in range(4):
        _create(api, pipeline, _contact(api, n), monetaryValue=100 * n)
    body = {"locationId": LOC, "limit": 2, "filters": [{"field": "monetary_value", "operator": "range",
                                                        "value": {"gte": 100}}],
            "sort": [{"field": "monetary_value", "direction": "desc"}]}
    first = api.post("/opportunities/search", json=body).json()
    second = api.post("/opportunities/search", json={**body, "searchAfter": first["opportunities"][-1]["searchAfter"]}
                      ).json()
    assert first["total"] == 3
    values = [o["monetaryValue"] for o in first["opportunities"] + second["opportunities"]]
    assert values == [300, 200, 100]


def test_upsert_accepts_both_spec_shapes(api):
    pipeline, contact = _pipeline(api), _contact(api)
    created = api.post("/opportunities/upsert", json={"locationId": LOC, "pipelineId": pipeline["id"],
                                                      "contactId": contact["id"], "name": "Upserted"})
    by_contact = api.post("/opportunities/upsert", json={"locationId": LOC, "pipelineId": pipeline["id"],
                                                         "contactId": contact["id"], "monetaryValue": 50})
    by_id = api.post("/opportunities/upsert", json={"id": created.json()["opportunity"]["id"], "locationId": LOC,
                                                    "pipelineId": pipeline["id"], "followers": [],
                                                    "isRemoveAllFollowers": False, "followersActionType": "add",
                                                    "status": "lost"})
    assert created.json()["new"] is True
    assert by_contact.json()["new"] is False and by_contact.json()["opportunity"]["monetaryValue"] == 50
    assert by_id.json()["new"] is False and by_id.json()["opportunity"]["status"] == "lost"


def test_get_search_wants_snake_case_location_id(api):
    resp = api.get("/opportunities/search", params={"locationId": LOC})
    assert resp.status_code == 422 and resp.json()["message"] == ["location_id should not be empty"]
