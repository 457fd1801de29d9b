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
