"""Keys (hashed, revocable, scoped to one organization), families, rate limit, write policy, audit redaction."""
import pytest
from django.core.management import call_command

from agents.models import Agent, ApiKey, ToolCall
from agents.services import agent_create, api_key_create, api_key_revoke
from agents.tools.dispatch import tool_call
from agents.tools.registry import Tool, ToolRegistry
from crm.services.contacts import contact_create

pytestmark = pytest.mark.django_db


def test_a_key_is_prefixed_shown_once_and_stored_hashed(agent):
    key, raw = api_key_create(agent=agent)
    assert raw.startswith(f"al_{key.prefix}_") and len(raw) > 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in {stored.key_hash, stored.prefix, str(stored)} and len(stored.key_hash) == 64


def test_missing_unknown_and_revoked_keys_are_refused(agent, key, call, people):
    assert call(None, "find_contact", {"query": "jane"})[0] == 401
    assert call("al_00000000_nope", "find_contact", {"query": "jane"})[0] == 401
    assert call(key, "find_contact", {"query": "jane"})[0] == 200
    api_key_revoke(api_key=ApiKey.objects.get(agent=agent))
    status, body = call(key, "find_contact", {"query": "jane"})
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_last_used_time_is_recorded(agent, key, call):
    assert ApiKey.objects.get(agent=agent).last_used_at is None
    call(key, "find_contact", {"query": "x"})
    assert ApiKey.objects.get(agent=agent).last_used_at is not None


def test_a_key_of_org_a_on_org_bs_ids_answers_like_a_missing_id(org_factory, call):
    org_a, org_b = org_factory("A"), org_factory("B")
    key_a = api_key_create(agent=agent_create(organization=org_a, name="bot"))[1]
    theirs = contact_create(organization=org_b, first_name="Secret", last_name="Person", email="secret@b.example")
    missing = call(key_a, "get_contact_context", {"contact": "999999"})
    for ref in (str(theirs.pk), "secret@b.example", "Secret Person"):
        status, body = call(key_a, "get_contact_context", {"contact": ref})
        assert status == 404 and body["error"]["code"] == "not_found"
        # exactly the answer for an id that does not exist, but for the caller's own words echoed back
        assert str(body).replace(ref, "999999") == str(missing[1])
    assert call(key_a, "find_contact", {"query": "secret@b.example"})[1]["result"]["matches"] == []


def test_a_family_the_agent_lacks_is_forbidden(org, call, people):
    agent = agent_create(organization=org, name="Calendar only", enabled_families=["calendar"])
    key = api_key_create(agent=agent)[1]
    status, body = call(key, "find_contact", {"query": "jane"})
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_a_read_only_agent_cannot_write_but_can_dry_run(org, agent, key, call, people):
    Agent.objects.filter(pk=agent.pk).update(write_policy=Agent.WritePolicy.READ_ONLY)
    status, body = call(key, "add_tags", {"contact": "Jane Doe", "tags": ["x"]})
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_the_rate_limit_answers_with_retry_after(agent, key, call):
    ApiKey.objects.filter(agent=agent).update(rate_limit_per_minute=2)
    from django.core.cache import cache

    cache.clear()
    assert call(key, "find_contact", {"query": "x"})[0] == 200
    assert call(key, "find_contact", {"query": "x"})[0] == 200
    status, body = call(key, "find_contact", {"query": "x"})
    assert status == 429 and body["error"]["code"] == "rate_limited" and 1 <= body["error"]["retry_after"] <= 60


def test_the_audit_never_holds_secrets(agent, key, call):
    call(key, "find_contact", {"query": f"token {key}", "password": "hunter2"})
    row = ToolCall.objects.get()
    assert key not in str(row.input) and "hunter2" not in str(row.input) and row.error_code == "invalid"


def test_the_runner_surface_calls_the_same_dispatcher_with_an_agent(agent, people):
    envelope = tool_call(agent=agent, tool_name="find_contact", arguments={"query": "José"}, surface="runner")
    assert envelope["ok"] and envelope["result"]["matches"][0]["name"] == "José García"
    assert ToolCall.objects.get().surface == "runner"


def test_a_duplicate_tool_name_raises():
    reg = ToolRegistry()
    tool = Tool(name="t", family="contacts", description="d", input_schema={"type": "object"}, output_schema={},
                fn=lambda ctx: {})
    reg.register(tool)
    with pytest.raises(ValueError):
        reg.register(tool)


def test_agent_key_command_prints_the_key_last_and_revokes_by_prefix(org, capsys):
    call_command("agent_key", "create", "--org", org.slug, "--agent", "Night shift")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    key = ApiKey.objects.get(agent__name="Night shift")
    assert raw.startswith(f"al_{key.prefix}_") and key.revoked_at is None
    call_command("agent_key", "revoke", f"al_{key.prefix}")
    key.refresh_from_db()
    assert key.revoked_at is not None


@pytest.mark.django_db
def test_a_write_tool_sees_the_callers_idempotency_key_and_its_events_name_the_agent(org):
    from agents.tools import dispatch
    from agents.tools.registry import Tool, registry
    from crm import events

    seen = {}

    def fn(ctx, **arguments):
        seen.update(key=ctx.idempotency_key, agent=events.acting_agent_id(), arguments=arguments)
        return {"status": "done"}

    tool = Tool(name="test_probe_write", family="contacts", description="probe", writes=True,
                input_schema={"type": "object", "properties": {}}, output_schema={"type": "object"}, fn=fn)
    registry.register(tool)
    try:
        agent = agent_create(organization=org, name="Probe", enabled_families=["contacts"])
        envelope = dispatch.tool_call(agent=agent, tool_name="test_probe_write",
                                      arguments={"idempotency_key": "k-1"}, surface="rest")
    finally:
        registry.unregister("test_probe_write")
    assert envelope["ok"], envelope
    assert seen == {"key": "k-1", "agent": agent.pk, "arguments": {}}
    assert events.acting_agent_id() is None


def test_token_like_strings_inside_any_input_text_are_redacted_in_the_audit(agent, key, call, people):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJsb2NhdGlvbklkIjoiMSJ9.c2lnbmF0dXJlLXBhcnQ"
    pit = "pit-0f8e2c4a-1b2c-4d5e-8f90-123456789abc"
    note = f"token for the CRM: Bearer opaque-Secret_123 / {jwt} / {pit}; ask {key}"
    call(key, "update_contact", {"contact": "Jane Doe", "fields": {"custom_fields": {"note": note}},
                                 "idempotency_key": "note-1"})
    row = ToolCall.objects.get(tool="update_contact")
    stored = str(row.input)
    for secret in ("opaque-Secret_123", jwt, pit, key):
        assert secret not in stored
    assert "token for the CRM: Bearer [redacted]" in stored and row.idempotency_key == "note-1"
    assert row.input["fields"]["custom_fields"]["note"].count("[redacted]") == 4


@pytest.mark.parametrize("tool, arguments, field", [
    ("find_contact", {"query": "Jane\u0000"}, "query"),
    ("find_contact", {"query": "Jane \ud800Doe"}, "query"),                                  # a lone surrogate
    ("update_contact", {"contact": "Jane Doe", "fields": {"custom_fields": {"n\u0000": "x"}}},
     "fields.custom_fields.n\ufffd"),
    ("add_tags", {"contact": "Jane Doe", "tags": ["ok", "b\u0000d"], "idempotency_key": "k\u0000"}, "tags.1"),
])
def test_text_postgresql_cannot_store_is_invalid_and_still_audited(agent, key, call, people, tool, arguments, field):
    status, body = call(key, tool, arguments)
    assert status == 400 and body["error"]["code"] == "invalid" and body["error"]["field"] == field, body
    row = ToolCall.objects.get(tool=tool)
    assert row.error_code == "invalid" and "\ufffd" in str(row.input)


def test_a_form_or_plain_text_body_is_refused_with_the_envelope(client, key, people):
    for content_type, data in (("multipart/form-data; boundary=BoUnDaRy",
                                "--BoUnDaRy\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\njane\r\n"
                                "--BoUnDaRy--\r\n"),
                               ("text/plain", "query=jane")):
        response = client.generic("POST", "/api/agent/tools/find_contact/", data, content_type=content_type,
                                  HTTP_AUTHORIZATION=f"Bearer {key}")
        body = response.json()
        assert response.status_code == 400 and body["ok"] is False and body["error"]["code"] == "invalid", body
        assert "application/json" in body["error"]["hint"]
