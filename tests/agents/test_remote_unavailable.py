"""A tool whose GHL request fails after the client's retries answers `ghl_unavailable`, never a 5xx crash."""
import pytest

from agents.tools.registry import Tool, registry
from ghl_integration.models import GhlConnection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_read_tool():
    """A read that asks GHL in-process (as free slots do): the location's contact count."""
    from ghl_integration.installation import GhlInstallation

    def count(ctx):
        connection = GhlConnection.objects.get(organization=ctx.organization)
        with GhlInstallation(connection).get_client() as client:
            page = client.contacts.search(page_limit=1)
        return {"total": page.get("total")}

    registry.register(Tool(name="count_ghl_contacts", family="context", description="test only",
                           input_schema={"type": "object", "properties": {}}, output_schema={"type": "object"},
                           fn=count))
    yield
    registry.unregister("count_ghl_contacts")


def test_ghl_answering_503_becomes_ghl_unavailable_with_a_hint(connected, ghl, key, call, live_read_tool):
    status, body = call(key, "count_ghl_contacts", {})
    assert status == 200 and body["ok"], body
    ghl.control.faults(api={"http_5xx": 1.0, "status_5xx": [503]})
    status, body = call(key, "count_ghl_contacts", {})
    assert status == 503 and body["ok"] is False
    error = body["error"]
    assert error["code"] == "ghl_unavailable" and "GoHighLevel" in error["message"]
    assert "retry" in error["hint"].lower() and "find_contact" in error["hint"]
    from agents.models import ToolCall

    audit = ToolCall.objects.filter(tool="count_ghl_contacts").order_by("id").last()
    assert audit.error_code == "ghl_unavailable" and audit.ghl_request_ids  # GHL's traceIds of the 503s


@pytest.fixture
def short_bound(monkeypatch):
    """A tool call's GHL requests get 1 s in all (production: TOOL_REMOTE_SECONDS)."""
    from agents.tools import dispatch

    monkeypatch.setattr(dispatch, "TOOL_REMOTE_SECONDS", 1.0)
    return 1.0


def test_a_slow_ghl_answers_ghl_unavailable_within_the_tools_bound(connected, ghl, key, call, live_read_tool,
                                                                   short_bound):
    import time

    ghl.control.faults(api={"latency_ms": 3000})
    started = time.monotonic()
    status, body = call(key, "count_ghl_contacts", {})
    elapsed = time.monotonic() - started

    assert status == 503 and body["error"]["code"] == "ghl_unavailable", body
    assert elapsed < short_bound + 1.0, f"answered after {elapsed:.1f} s"  # not after GHL's 3 s


def test_create_contact_does_not_wait_out_a_slow_ghls_duplicate_check(connected, ghl, key, call, push_inline,
                                                                      settings, short_bound):
    import time

    from .conftest import LOCATION_ID

    # given GHL answering every request after 3 s, and the push left to the worker
    push_inline["enabled"] = False
    settings.AGENT_WRITE_CONFIRM_SECONDS = 0.3
    ghl.control.faults(api={"latency_ms": 3000})

    # when
    started = time.monotonic()
    status, body = call(key, "create_contact", {"name": "Slow Sam", "email": "sam@example.com",
                                                "phone": "+15035550123"})
    elapsed = time.monotonic() - started

    # then saved here and said so, in about the bound, not after two 3 s lookups
    assert status == 200 and body["result"]["status"] == "queued", body
    assert elapsed < short_bound + 1.5, f"answered after {elapsed:.1f} s"
    ghl.control.clear_faults()
    from ghl_integration.sync.push import outbox_push_pending

    outbox_push_pending(connection_id=push_inline["connection_id"], budget_seconds=5)
    assert [c["email"] for c in ghl.control.objects("contact", location_id=LOCATION_ID)
            if c.get("email") == "sam@example.com"] == ["sam@example.com"]
