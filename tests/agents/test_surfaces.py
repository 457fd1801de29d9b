"""REST, the OpenAPI schema, the function-calling manifest and MCP all serve the registry's tools with the same
schemas, and MCP (driven with the SDK's own client over HTTP) answers exactly as REST does."""
import asyncio
import threading
import time

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agents.mcp.server import build_app
from agents.models import ToolCall
from agents.tools.registry import registry, result_envelope_schema

pytestmark = pytest.mark.django_db(transaction=True)


def serve_mcp(application):
    """Serve an MCP ASGI app on a free loopback port in a thread; yields its endpoint URL, then stops it."""
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def mcp_url():
    yield from serve_mcp(build_app())


def mcp_session(url: str, key: str | None, work):
    """Run `work(client)` in an MCP client session over streamable HTTP with `key` as the bearer."""

    async def main():
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
                return await work(client)

    return asyncio.run(main())


def rest_get(client, key, path):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_every_surface_lists_the_same_tools_with_the_same_schemas(client, key, mcp_url):
    listed = rest_get(client, key, "/api/agent/tools/").json()["result"]["tools"]
    manifest = rest_get(client, key, "/api/agent/tools/manifest/").json()["result"]["tools"]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    mcp_tools = mcp_session(mcp_url, key, lambda c: c.list_tools()).tools

    names = registry.names()
    assert {"find_contact", "get_contact_context", "create_contact", "update_contact", "add_tags",
            "remove_tags"} <= set(names)
    assert [t["name"] for t in listed] == names
    assert [t["function"]["name"] for t in manifest] == names
    assert [t.name for t in mcp_tools] == names
    components = schema["components"]["schemas"]
    for tool in registry.all():
        rest = next(t for t in listed if t["name"] == tool.name)
        fn = next(t["function"] for t in manifest if t["function"]["name"] == tool.name)
        mcp = next(t for t in mcp_tools if t.name == tool.name)
        op = schema["paths"][f"/api/agent/tools/{tool.name}/"]["post"]
        camel = tool.name.title().replace("_", "")
        assert rest["input_schema"] == fn["parameters"] == mcp.input_schema == components[f"{camel}Input"] \
            == tool.input_schema
        assert mcp.output_schema == components[f"{camel}Result"] == result_envelope_schema(rest["output_schema"])
        assert rest["description"] == fn["description"] == mcp.description == op["description"]
        assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(f"{camel}Input")
        assert mcp.annotations.read_only_hint is (not tool.writes)


def test_the_listing_follows_the_agents_families(client, org, mcp_url):
    from agents.services import agent_create, api_key_create

    key = api_key_create(agent=agent_create(organization=org, name="No contacts", enabled_families=["calendar"]))[1]
    assert [t["name"] for t in rest_get(client, key, "/api/agent/tools/").json()["result"]["tools"]] == [
        t.name for t in registry.all(families=["calendar"])]
    assert [t.name for t in mcp_session(mcp_url, key, lambda c: c.list_tools()).tools] == [
        t.name for t in registry.all(families=["calendar"])]


def test_swagger_ui_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200 and b"swagger" in response.content.lower()


def test_listing_needs_a_key(client, mcp_url):
    assert client.get("/api/agent/tools/").status_code == 401
    assert client.get("/api/agent/tools/manifest/").status_code == 401
    response = httpx2.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("tool, arguments", [
    ("find_contact", {"query": "jose garcia"}),
    ("get_contact_context", {"contact": "Jane"}),          # ambiguous: an error result on MCP
    ("get_contact_context", {"contact": "Nobody Atall"}),  # not_found
    ("find_contact", {"query": ""}),                        # invalid
    ("add_tags", {"contact": "Jane Doe", "tags": ["vip"], "dry_run": True}),  # a write: not_connected
    ("find_contatc", {"query": "jane"}),                    # no such tool
])
def test_mcp_and_rest_give_the_same_answer(call, key, people, mcp_url, tool, arguments):
    status, rest = call(key, tool, arguments)
    result = mcp_session(mcp_url, key, lambda c: c.call_tool(tool, arguments))
    assert result.structured_content == rest
    assert result.is_error is (not rest["ok"])
    assert list(ToolCall.objects.order_by("id").values_list("surface", "tool", "ok")) == [
        ("rest", tool, rest["ok"]), ("mcp", tool, rest["ok"])]


@pytest.mark.parametrize("tool, arguments", [
    ("create_contact", {"name": "Nora New", "email": "nora@example.com", "tags": ["vip"], "dry_run": True}),
    ("update_contact", {"contact": "jane doe", "fields": {"city": "Bend"}, "dry_run": True}),
    ("remove_tags", {"contact": "Bob Fischer", "tags": ["vip"], "dry_run": True}),
])
def test_mcp_and_rest_give_the_same_answer_to_a_write(connected, ghl, call, key, people, mcp_url, tool, arguments):
    status, rest = call(key, tool, arguments)
    assert status == 200 and rest["ok"] and rest["result"]["status"] == "dry_run", rest
    result = mcp_session(mcp_url, key, lambda c: c.call_tool(tool, arguments))
    assert result.structured_content == rest and result.is_error is False
    assert list(ToolCall.objects.order_by("id").values_list("surface", "tool", "outcome")) == [
        ("rest", tool, "dry_run"), ("mcp", tool, "dry_run")]


def test_a_write_over_mcp_is_confirmed_by_ghl(connected, ghl, key, mcp_url):
    arguments = {"name": "Mia Mcp", "email": "mia@example.com", "idempotency_key": "mcp-1"}
    first = mcp_session(mcp_url, key, lambda c: c.call_tool("create_contact", arguments))
    again = mcp_session(mcp_url, key, lambda c: c.call_tool("create_contact", arguments))
    assert first.structured_content["result"]["status"] == "confirmed"
    assert again.structured_content == first.structured_content
    remote = [c for c in ghl.control.objects("contact", location_id=connected.location_id)
              if c.get("email") == "mia@example.com"]
    assert len(remote) == 1 and remote[0]["id"] == first.structured_content["result"]["contact"]["ghl_contact_id"]
    assert list(ToolCall.objects.values_list("surface", "outcome").order_by("id")) == [
        ("mcp", "confirmed"), ("mcp", "replayed")]


def test_a_revoked_key_is_refused_by_mcp(agent, key, mcp_url):
    from agents.models import ApiKey
    from agents.services import api_key_revoke

    api_key_revoke(api_key=ApiKey.objects.get(agent=agent))
    response = httpx2.post(mcp_url, headers={"Authorization": f"Bearer {key}"},
                           json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401


def test_the_openapi_schema_is_valid_openapi_3_1(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.read_text().startswith("openapi: 3.1.0")


def test_rate_limited_carries_retry_after_on_rest_and_mcp(client, agent, key, mcp_url):
    from django.core.cache import cache

    from agents.models import ApiKey

    ApiKey.objects.filter(agent=agent).update(rate_limit_per_minute=1)
    cache.clear()
    arguments = {"query": "x"}
    assert client.post("/api/agent/tools/find_contact/", data=arguments, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    response = client.post("/api/agent/tools/find_contact/", data=arguments, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    error = response.json()["error"]
    assert response.status_code == 429 and error["code"] == "rate_limited"
    assert 1 <= error["retry_after"] <= 60 and response["Retry-After"] == str(error["retry_after"])
    result = mcp_session(mcp_url, key, lambda c: c.call_tool("find_contact", arguments))
    assert result.is_error and result.structured_content["error"]["code"] == "rate_limited"
    assert 1 <= result.structured_content["error"]["retry_after"] <= 60
