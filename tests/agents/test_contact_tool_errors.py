"""Each contact tool's error codes over REST, each with its audit row: who is meant (`not_found`, `ambiguous`), the
input (`invalid`), the agent's rights (`forbidden`), a reused idempotency key (`conflict`), no GHL connection
(`not_connected`) and the key's rate limit (`rate_limited`). (Writes through the outbox do not answer
`ghl_unavailable`: they answer `status: queued`, test_contact_tools.py.)"""
import pytest

from agents.models import Agent, ApiKey, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

WRITES = {
    "create_contact": {"name": "Nora New", "email": "nora@example.com"},
    "update_contact": {"contact": "Jane Doe", "fields": {"city": "Bend"}},
    "add_tags": {"contact": "Jane Doe", "tags": ["vip"]},
    "remove_tags": {"contact": "Bob Fischer", "tags": ["vip"]},
}
READS = {
    "find_contact": {"query": "jane"},
    "get_contact_context": {"contact": "Jane Doe"},
}


def assert_error(response, tool, code, field, status):
    got_status, body = response
    assert body["ok"] is False and body["error"]["code"] == code, (tool, body)
    assert got_status == status and body["error"].get("field") == field, (tool, body)
    assert body["error"]["message"] and body["error"].get("hint"), (tool, body)
    row = ToolCall.objects.filter(tool=tool).order_by("id").last()
    assert (row.ok, row.error_code, row.outcome, row.surface) == (False, code, "error", "rest"), tool
    assert row.key_prefix == row.agent.api_keys.get().prefix and row.latency_ms > 0, tool
    return body["error"]


@pytest.mark.parametrize("tool", ["update_contact", "add_tags", "remove_tags", "get_contact_context"])
@pytest.mark.parametrize("who, code, status", [("Nobody Atall", "not_found", 404), ("Jane", "ambiguous", 409),
                                               ("Jnae Doe", None, 200)])
def test_who_is_meant(connected, ghl, key, call, people, tool, who, code, status):
    arguments = {**(WRITES.get(tool) or READS[tool]), "contact": who}
    if tool != "get_contact_context":
        arguments["dry_run"] = True
    response = call(key, tool, arguments)
    if code is None:  # a typo of one person is that person, and the answer says how it was matched
        assert response[0] == 200 and response[1]["result"]["resolved"]["matched_by"] == "name", response
        return
    error = assert_error(response, tool, code, "contact", status)
    if code == "ambiguous":
        assert {c["name"] for c in error["candidates"]} == {"Jane Doe", "Jane Smith"}


@pytest.mark.parametrize("tool, arguments, field", [
    ("create_contact", {"email": "nora@example.com", "phone": "nope"}, "phone"),
    ("create_contact", {"tags": ["vip"]}, "name"),
    ("update_contact", {"contact": "Jane Doe", "fields": {}}, "fields"),
    ("add_tags", {"contact": "Jane Doe", "tags": []}, "tags"),
    ("remove_tags", {"contact": "Jane Doe"}, "tags"),
    ("remove_tags", {"contact": "Jane Doe", "tags": ["vip"], "dry_run": "yes"}, "dry_run"),
])
def test_invalid_input_names_the_field(connected, ghl, key, call, people, tool, arguments, field):
    ghl.control.clear_request_log()  # the people's own pushes
    assert_error(call(key, tool, arguments), tool, "invalid", field, 400)
    assert ghl.control.request_log() == []


@pytest.mark.parametrize("tool", list(WRITES))
def test_a_read_only_agent_is_forbidden_to_write(connected, ghl, agent, key, call, people, tool):
    Agent.objects.filter(pk=agent.pk).update(write_policy=Agent.WritePolicy.READ_ONLY)
    ghl.control.clear_request_log()  # the people's own pushes
    assert_error(call(key, tool, WRITES[tool]), tool, "forbidden", None, 403)
    assert ghl.control.request_log() == []


@pytest.mark.parametrize("tool", [*WRITES, *READS])
def test_an_agent_without_the_contacts_family_is_forbidden(org, agent, key, call, people, tool):
    Agent.objects.filter(pk=agent.pk).update(enabled_families=["calendar"])
    assert_error(call(key, tool, WRITES.get(tool) or READS[tool]), tool, "forbidden", None, 403)


@pytest.mark.parametrize("tool", list(WRITES))
def test_an_idempotency_key_reused_for_another_input_is_a_conflict(connected, ghl, key, call, tool):
    status, body = call(key, "create_contact", {"name": "Jane Doe", "email": "jane.doe@example.com"})
    assert body["result"]["status"] == "confirmed", body
    first = {**WRITES[tool], **({} if tool == "create_contact" else {"contact": "Jane Doe"}),
             "idempotency_key": f"once-{tool}"}
    status, body = call(key, tool, first)
    assert status == 200 and body["ok"], body
    ghl.control.clear_request_log()
    other = {**first, **({"email": "other@example.com"} if tool == "create_contact" else {"contact": "jane.doe@"
                                                                                       "example.com"})}
    assert_error(call(key, tool, other), tool, "conflict", "idempotency_key", 409)
    assert ghl.control.request_log() == []


@pytest.mark.parametrize("tool", list(WRITES))
def test_a_write_without_a_ghl_connection_is_not_connected(org, key, call, people, tool):
    assert_error(call(key, tool, WRITES[tool]), tool, "not_connected", None, 409)


@pytest.mark.parametrize("tool", [*WRITES, *READS])
def test_the_keys_rate_limit(org, agent, key, call, people, tool):
    ApiKey.objects.filter(agent=agent).update(rate_limit_per_minute=0)
    error = assert_error(call(key, tool, WRITES.get(tool) or READS[tool]), tool, "rate_limited", None, 429)
    assert 1 <= error["retry_after"] <= 60
