"""The context tools over REST against the sandbox: get_business_context (the organization, its GHL location,
zone and local time, currency, connection, pipelines, calendars, users, the mirror's counts and freshness, the
agent itself) and list_users, each scoped to the key's organization."""
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.models import Agent
from agents.services import agent_create, api_key_create
from crm.models import Contact, CrmUser, Pipeline, PipelineStage
from crm.services.external_ids import external_id_link
from ghl_integration.calendars.mirror import calendars_refresh
from ghl_integration.connections.disconnect import connection_disconnect
from ghl_integration.opportunities.sync import opportunities_pull
from ghl_sandbox import constants as sbx

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)


def location_users(ghl) -> list[dict]:
    return [u for u in ghl.control.objects("user") if LOCATION_ID in u["roles"]["locationIds"] and not u["deleted"]]


def ok(response):
    status, body = response
    assert status == 200 and body["ok"], body
    return body["result"]


@pytest.fixture
def mirrored(ghl, connected):
    """The demo location's pipelines, users and calendars mirrored, as the connect's first sync leaves them."""
    opportunities_pull(connection=connected)
    calendars_refresh(connection=connected)
    ghl.control.clear_request_log()
    return connected


@pytest.fixture
def stranger(org_factory):
    """Another organization's mirror: a user, a pipeline and a contact of its own."""
    other = org_factory("Other Clinic")
    account = "OtherLocation0000000001"
    user = CrmUser.objects.create(organization=other, name="Zed Owner", email="zed@b.example")
    external_id_link(obj=user, provider="ghl", account_id=account, external_id="TheirUserGhlId00000001")
    pipeline = Pipeline.objects.create(organization=other, name="Zebra Sales")
    PipelineStage.objects.create(organization=other, pipeline=pipeline, name="Zebra Signed", position=0)
    Contact.objects.create(organization=other, first_name="Quentin", full_name="Quentin Blake")
    return other


def test_business_context_of_a_connected_location(mirrored, ghl, org, agent, key, call, stranger):
    # when
    result = ok(call(key, "get_business_context", {}))

    # then: whose business, where and when
    assert result["organization"] == {"name": org.name}
    assert result["connection"] == "connected"
    assert result["account"]["location_id"] == LOCATION_ID
    assert result["account"]["location_name"] == sbx.DEMO_LOCATION_NAME
    assert result["timezone"] == "America/New_York" and result["timezone_source"] == "location"
    now = datetime.fromisoformat(result["now"])
    assert now.utcoffset() == datetime.now(ZoneInfo("America/New_York")).utcoffset()
    assert abs(now - datetime.now(ZoneInfo("UTC"))) < timedelta(minutes=1)
    assert result["today"] == now.date().isoformat() and result["weekday"] == now.strftime("%A")
    assert result["currency"] == "USD"
    # the names the other tools take, as GHL has them
    remote_pipelines = {p["name"] for p in ghl.control.objects("pipeline", location_id=LOCATION_ID)}
    assert {p["name"] for p in result["pipelines"]} == remote_pipelines
    assert all(p["stages"] and {"stage_id", "name"} <= set(p["stages"][0]) for p in result["pipelines"])
    assert {c["name"] for c in result["calendars"]} == {
        c["name"] for c in ghl.control.objects("calendar", location_id=LOCATION_ID)}
    remote_users = location_users(ghl)
    assert sorted(u["name"] for u in result["users"]) == sorted(u["name"] for u in remote_users)
    # how much the mirror holds, and how fresh it is
    assert result["mirror"]["users"]["count"] == result["mirror"]["users"]["linked"] == len(remote_users)
    assert result["mirror"]["pipelines"]["linked"] == len(remote_pipelines)
    assert result["mirror"]["users"]["synced_at"] and result["synced_at"]
    assert datetime.fromisoformat(result["synced_at"]) <= datetime.now(ZoneInfo("UTC"))
    # the agent itself
    assert result["agent"]["name"] == agent.name == "Front desk"
    assert result["agent"]["write_policy"] == "auto" and "get_business_context" in result["agent"]["tools"]
    assert set(result["agent"]["enabled_families"]) == {"contacts", "messaging", "opportunities", "calendar",
                                                         "context"}
    # nothing of the other organization, and no GHL request
    shown = json.dumps(result)
    assert not [w for w in ("Zed Owner", "Zebra", "Quentin", "Other Clinic") if w in shown]
    assert ghl.control.request_log() == []


def test_business_context_without_a_connection(org, key, call, stranger):
    result = ok(call(key, "get_business_context", {}))

    assert result["connection"] == "not_connected" and result["account"] is None
    assert result["timezone"] == "UTC" and result["timezone_source"] == "default"
    assert result["pipelines"] == [] and result["users"] == [] and result["synced_at"] is None
    assert result["mirror"]["contacts"] == {"count": 0, "linked": 0, "capped": False, "synced_at": None}
    assert "Zed Owner" not in json.dumps(result)


def test_a_disconnected_location_says_not_connected(mirrored, key, call):
    connection_disconnect(connection=mirrored)

    result = ok(call(key, "get_business_context", {}))

    assert result["connection"] == "not_connected"
    assert result["account"]["connection"] == "not_connected" and result["account"]["status"] == "disconnected"
    assert result["account"]["location_name"] == sbx.DEMO_LOCATION_NAME


def test_business_context_shows_the_agents_own_families_and_policy(org, call):
    agent = agent_create(organization=org, name="Reader", enabled_families=["context", "contacts"])
    Agent.objects.filter(pk=agent.pk).update(write_policy=Agent.WritePolicy.READ_ONLY)
    key = api_key_create(agent=agent)[1]

    result = ok(call(key, "get_business_context", {}))["agent"]

    assert result["name"] == "Reader" and result["enabled_families"] == ["context", "contacts"]
    assert result["write_policy"] == "read_only" and result["write_policy_means"].startswith("Reads only")
    assert "list_users" in result["tools"] and "find_contact" in result["tools"]
    assert "book_appointment" not in result["tools"]


def test_list_users_by_name_for_assignees(mirrored, ghl, key, call, stranger):
    remote = location_users(ghl)

    listed = ok(call(key, "list_users", {}))
    assert [u["name"] for u in listed["users"]] == sorted(u["name"] for u in remote)
    assert {u["ghl_user_id"] for u in listed["users"]} == {u["id"] for u in remote}
    assert listed["synced_at"] and all(u["synced_at"] for u in listed["users"])

    first = remote[0]
    word = first["name"].split()[-1].lower()
    found = ok(call(key, "list_users", {"query": word}))["users"]
    assert first["name"] in [u["name"] for u in found]
    assert all(word in u["name"].lower() or word in u["email"] for u in found)
    by_email = ok(call(key, "list_users", {"query": first["email"]}))["users"]
    assert [u["ghl_user_id"] for u in by_email] == [first["id"]]
    # another organization's user is not there, by name or email
    assert ok(call(key, "list_users", {"query": "Zed Owner"})) == {"users": [], "count": 0, "truncated": False,
                                                                 "synced_at": listed["synced_at"]}
    assert ok(call(key, "list_users", {"query": "zed@b.example"}))["users"] == []


def test_list_users_limit(mirrored, key, call):
    result = ok(call(key, "list_users", {"limit": 1}))
    assert result["count"] == 1 and result["truncated"] is True
