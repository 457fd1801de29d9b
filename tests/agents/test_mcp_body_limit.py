"""The MCP endpoint (the real ASGI entry point, agents.mcp.asgi, over HTTP) takes the bodies REST takes: one over
AGENT_TOOL_MAX_BODY_BYTES is refused with 413 and the envelope, by its Content-Length or, sent chunked, once it
grows past the limit; a file REST accepts is not refused by the MCP SDK's own smaller cap."""
import base64
import json

import httpx2
import pytest

from agents.models import ToolCall
from tests.agents.test_audit_files import _email, sent_files  # noqa: F401  (fixtures)
from tests.agents.test_surfaces import mcp_session, serve_mcp

pytestmark = pytest.mark.django_db(transaction=True)

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.fixture(scope="module")
def asgi_url():
    """One server for the module: the entry point's app is built once, and its session manager runs only once."""
    from agents.mcp.asgi import application

    yield from serve_mcp(application)


def post(url, key, content):
    return httpx2.post(url, content=content, timeout=30, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream"})


def find_contact_body(size: int) -> bytes:
    """A tools/call of `size` bytes."""
    head = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"find_contact","arguments":{"query":"'
    tail = b'"}}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def chunks(body: bytes, size: int = 1024):
    """The body as a generator: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_a_body_declared_over_the_limit_is_413_with_the_envelope(agent, key, asgi_url, settings):
    settings.AGENT_TOOL_MAX_BODY_BYTES = 4096
    response = post(asgi_url, key, find_contact_body(5000))
    assert response.status_code == 413 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["ok"] is False and body["error"]["code"] == "invalid", body
    assert "5000 bytes" in body["error"]["message"] and "4096" in body["error"]["message"]
    assert "link" in body["error"]["hint"]
    assert not ToolCall.objects.exists()


def test_a_chunked_body_growing_past_the_limit_is_413_with_the_envelope(agent, key, asgi_url, settings):
    settings.AGENT_TOOL_MAX_BODY_BYTES = 4096
    response = post(asgi_url, key, chunks(find_contact_body(50_000)))
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["ok"] is False and body["error"]["code"] == "invalid"
    assert "over 4096 bytes" in body["error"]["message"]
    assert not ToolCall.objects.exists()
    # and a chunked body under the limit is handed on whole
    small = post(asgi_url, key, chunks(json.dumps(LIST).encode(), size=7))
    assert small.status_code == 200 and "find_contact" in [t["name"] for t in small.json()["result"]["tools"]]
    answered = post(asgi_url, key, chunks(find_contact_body(4000)))
    assert answered.status_code == 200 and answered.json()["result"]["isError"] is True
    assert ToolCall.objects.get().tool == "find_contact"


def test_a_file_rest_takes_goes_through_mcp(ghl, maria, key, asgi_url, sent_files, settings):  # noqa: F811
    # given a 3.5 MB file: 4.7 MB of base64, over the MCP SDK's default 4 MiB cap, under our 8 MB limit
    big = bytes(range(256)) * (3584 * 1024 // 256)
    attachment = {"name": "scan.pdf", "content_type": "application/pdf",
                  "content_base64": base64.b64encode(big).decode()}
    assert 4 * 1024 * 1024 < len(attachment["content_base64"]) < settings.AGENT_TOOL_MAX_BODY_BYTES
    # when
    result = mcp_session(asgi_url, key, lambda c: c.call_tool("send_message", {**_email(),
                                                                                 "attachments": [attachment]}))
    # then
    assert not result.is_error, result.structured_content
    assert [(f.name, len(f.data)) for f in sent_files] == [("scan.pdf", len(big))]
