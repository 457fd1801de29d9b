"""Opportunities and pipelines through the client against the sandbox (REFERENCE.md §e)."""
import pytest

from ghl_integration.client import GhlNotFound
from ghl_sandbox import constants as c


def _contact(ghl, n=0):
    return ghl.contacts.create({"firstName": f"Olly{n}", "email": f"olly{n}@example.com"})


def test_pipelines_with_stages(ghl):
    pipelines = ghl.opportunities.pipelines()

    sales = next(p for p in pipelines if p["id"] == c.DEMO_PIPELINE_ID)
    assert [s["name"] for s in sales["stages"]] == ["New Lead", "Contacted", "Proposal Sent", "Won"]
    assert all(s["id"] for s in sales["stages"])


def test_create_get_update_status_delete(ghl):
    stages = ghl.opportunities.pipelines()[0]["stages"]
    contact = _contact(ghl)

    created = ghl.opportunities.create({"pipelineId": c.DEMO_PIPELINE_ID, "name": "Invisalign", "status": "open",
                                        "contactId": contact["id"], "monetaryValue": 4200})
    got = ghl.opportunities.get(created["id"])
    moved = ghl.opportunities.update(created["id"], {"pipelineStageId": stages[2]["id"], "monetaryValue": 3900})
    assert ghl.opportunities.update_status(created["id"], "won") is True
    won = ghl.opportunities.get(created["id"])
    assert ghl.opportunities.delete(created["id"]) is True

    assert got["id"] == created["id"] and got["contactId"] == contact["id"] and got["monetaryValue"] == 4200
    assert created["pipelineStageId"] == stages[0]["id"]
    assert moved["pipelineStageId"] == stages[2]["id"] and moved["monetaryValue"] == 3900
    assert won["status"] == "won"
    with pytest.raises(GhlNotFound):
        ghl.opportunities.get(created["id"])


def test_upsert_creates_then_updates(ghl):
    contact = _contact(ghl)

    first = ghl.opportunities.upsert({"pipelineId": c.DEMO_PIPELINE_ID, "contactId": contact["id"],
                                      "name": "Whitening", "status": "open"})
    second = ghl.opportunities.upsert({"pipelineId": c.DEMO_PIPELINE_ID, "contactId": contact["id"],
                                       "monetaryValue": 250})

    assert first["new"] is True and second["new"] is False
    assert second["opportunity"]["id"] == first["opportunity"]["id"]
    assert second["opportunity"]["monetaryValue"] == 250


def test_search_and_iter_search_follow_the_meta_cursor(ghl):
    made = [ghl.opportunities.create({"pipelineId": c.DEMO_PIPELINE_ID, "name": f"Deal {n}", "status": "open",
                                      "contactId": _contact(ghl, n)["id"]})["id"] for n in range(5)]

    page = ghl.opportunities.search(pipeline_id=c.DEMO_PIPELINE_ID, limit=2)
    every = list(ghl.opportunities.iter_search(page_size=2, pipeline_id=c.DEMO_PIPELINE_ID))
    won = ghl.opportunities.search(status="won")

    assert len(page["opportunities"]) == 2 and page["meta"]["total"] == 5 and page["meta"]["startAfterId"]
    assert sorted(o["id"] for o in every) == sorted(made)
    assert won["opportunities"] == []
