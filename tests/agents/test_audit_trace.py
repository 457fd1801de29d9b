"""The audit row of a tool call names GHL's traceIds of the pushes of its writes, also when a worker pushes them
after the call has answered, and the person the call concerned (shown on that contact's activity)."""
import threading

import pytest
from django.db import connection

from agents.models import ToolCall
from crm.models import Contact
from crm.sync import outbox
from crm.sync.models import OutboxEntry
from ghl_integration.sync.push import outbox_push_pending

from .test_opportunity_tools import acme  # noqa: F401  (a GHL deal of the demo contact, pulled)

pytestmark = pytest.mark.django_db(transaction=True)


def traces(ghl, method: str | None, path_prefix: str) -> list[str]:
    """The traceIds the sandbox answered `method` (None: any) requests under `path_prefix` with, oldest first."""
    rows = ghl.control.request_log(path_prefix=path_prefix)
    return [r["trace_id"] for r in sorted(rows, key=lambda r: r["seq"])
            if method in (None, r["method"]) and r["trace_id"]]


@pytest.fixture
def ada(connected, key, call):
    status, body = call(key, "create_contact", {"name": "Ada Lovelace", "email": "ada@example.com"})
    assert body["result"]["status"] == "confirmed", body
    person = Contact.objects.for_org(connected.organization).get(pk=body["result"]["contact"]["contact_id"])
    person.ghl_id = body["result"]["contact"]["ghl_contact_id"]
    return person


@pytest.fixture
def worker_later(push_inline, settings):
    """No push while the tool waits: the tool answers `queued`, and the test pushes as the worker would, later."""
    push_inline["enabled"] = False
    settings.AGENT_WRITE_CONFIRM_SECONDS = 0.2
    return push_inline


def test_a_push_made_after_the_call_answered_adds_ghls_trace_ids_to_its_audit_row(ghl, ada, worker_later, key,
                                                                                    call):
    # given a write that is still queued when the call answers
    ghl.control.clear_request_log()
    status, body = call(key, "update_contact", {"contact": "Ada Lovelace", "fields": {"city": "Paris"}})
    assert status == 200 and body["result"]["status"] == "queued", body
    audit = ToolCall.objects.get(tool="update_contact")
    assert audit.ghl_request_ids == [] and audit.contact_id == ada.pk
    assert traces(ghl, "PUT", "/contacts") == []

    # when a worker pushes it, outside any tool call
    outbox_push_pending(connection_id=worker_later["connection_id"], budget_seconds=5)

    # then the PUT's traceId is on the call's row, and on the outbox entry it came from
    [put_trace] = traces(ghl, "PUT", "/contacts")
    audit.refresh_from_db()
    assert put_trace in audit.ghl_request_ids
    assert ghl.control.objects("contact", ada.ghl_id)["city"] == "Paris"
    [entry] = [e for e in OutboxEntry.objects.filter(object_id=ada.pk) if "city" in e.changed_fields]
    assert entry.status == OutboxEntry.Status.DONE and put_trace in entry.request_ids
    assert entry.causes == [f"agents.tool_call:{audit.call_id}"]


def test_failed_attempts_and_the_retry_that_succeeds_all_land_on_the_row(ghl, ada, worker_later, key, call):
    call(key, "add_tags", {"contact": "Ada Lovelace", "tags": ["vip"]})
    audit = ToolCall.objects.get(tool="add_tags")
    ghl.control.clear_request_log()
    ghl.control.faults(api={"http_5xx": 1.0, "status_5xx": [503]})
    outbox_push_pending(connection_id=worker_later["connection_id"], budget_seconds=5)
    failed = traces(ghl, None, "/contacts")
    assert failed, "the push was tried against a failing GHL"
    [entry] = [e for e in OutboxEntry.objects.filter(object_id=ada.pk) if "tags" in e.changed_fields]
    assert entry.status == OutboxEntry.Status.FAILED

    ghl.control.clear_faults()
    outbox.outbox_retry_now(entry=entry)
    outbox_push_pending(connection_id=worker_later["connection_id"], budget_seconds=5)

    audit.refresh_from_db()
    every = traces(ghl, None, "/contacts")
    assert len(every) > len(failed) and set(every) <= set(audit.ghl_request_ids), (every, audit.ghl_request_ids)
    assert "vip" in ghl.control.objects("contact", ada.ghl_id)["tags"]


def test_two_calls_coalesced_into_one_push_both_get_its_trace_id(ghl, ada, worker_later, key, call):
    call(key, "update_contact", {"contact": "Ada Lovelace", "fields": {"city": "Paris"}})
    call(key, "update_contact", {"contact": "Ada Lovelace", "fields": {"state": "IDF"}})
    assert OutboxEntry.objects.filter(object_id=ada.pk, status=OutboxEntry.Status.PENDING).count() == 1
    ghl.control.clear_request_log()

    outbox_push_pending(connection_id=worker_later["connection_id"], budget_seconds=5)

    [put_trace] = traces(ghl, "PUT", "/contacts")
    assert [put_trace in row.ghl_request_ids for row in ToolCall.objects.filter(tool="update_contact")] == [True, True]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker thread writes beside the call: PostgreSQL")
def test_a_worker_that_pushes_while_the_call_waits_is_in_the_row_too(ghl, ada, push_inline, key, call):
    """Production's usual order: another process pushes (so the call's own collector sees nothing) and finishes
    before the audit row is written."""
    def notify(account_id: str) -> None:  # the worker: another thread, its own context and connection
        def push():
            outbox_push_pending(connection_id=push_inline["connection_id"], budget_seconds=5)
            connection.close()

        threading.Thread(target=push).start()

    outbox.register_push_notifier("ghl", notify)
    ghl.control.clear_request_log()
    status, body = call(key, "update_contact", {"contact": "Ada Lovelace", "fields": {"city": "Lyon"}})

    assert body["result"]["status"] == "confirmed", body
    [put_trace] = traces(ghl, "PUT", "/contacts")
    audit = ToolCall.objects.get(tool="update_contact")
    assert put_trace in audit.ghl_request_ids


def test_a_deal_moved_by_a_tool_and_pushed_later_has_its_trace_id(ghl, acme, worker_later, key, call):  # noqa: F811
    status, body = call(key, "move_opportunity", {"opportunity": "Acme deal", "stage": "Proposal Sent"})
    assert body["result"]["status"] == "queued", body
    outbox_push_pending(connection_id=worker_later["connection_id"], budget_seconds=5)

    [put_trace] = traces(ghl, "PUT", "/opportunities")
    audit = ToolCall.objects.get(tool="move_opportunity")
    assert put_trace in audit.ghl_request_ids
    assert audit.contact_id == body["result"]["opportunity"]["contact"]["contact_id"]


def test_a_dry_run_and_a_read_record_no_push_and_no_cause(ghl, ada, worker_later, key, call):
    call(key, "update_contact", {"contact": "Ada Lovelace", "fields": {"city": "Rome"}, "dry_run": True})
    call(key, "get_contact_context", {"contact": "ada@example.com"})
    assert not OutboxEntry.objects.filter(object_id=ada.pk, status=OutboxEntry.Status.PENDING).exists()
    rows = {row.tool: row for row in ToolCall.objects.filter(tool__in=["update_contact", "get_contact_context"])}
    assert rows["update_contact"].outcome == "dry_run" and rows["update_contact"].ghl_request_ids == []
    assert rows["get_contact_context"].contact_id == ada.pk == rows["update_contact"].contact_id


def test_the_admin_finds_a_call_by_a_ghl_trace_id(ghl, ada, worker_later, key, call, admin_client):
    call(key, "update_contact", {"contact": "Ada Lovelace", "fields": {"city": "Oslo"}})
    ghl.control.clear_request_log()
    outbox_push_pending(connection_id=worker_later["connection_id"], budget_seconds=5)
    [put_trace] = traces(ghl, "PUT", "/contacts")
    audit = ToolCall.objects.get(tool="update_contact")

    listing = admin_client.get("/admin/agents/toolcall/", {"q": put_trace})
    detail = admin_client.get(f"/admin/agents/toolcall/{audit.pk}/change/")

    assert listing.status_code == 200 and f"/admin/agents/toolcall/{audit.pk}/change/" in listing.content.decode()
    assert put_trace in detail.content.decode()


def test_the_contacts_activity_shows_the_rest_and_mcp_calls_about_them(ghl, ada, key, call, client, connected):
    # given calls about Ada and one about someone else
    call(key, "get_contact_context", {"contact": "Ada"})
    call(key, "add_tags", {"contact": "ada@example.com", "tags": ["newsletter"]})
    call(key, "create_contact", {"name": "Bob Stone", "email": "bob@example.com"})
    call(key, "find_contact", {"query": "Ada"})  # a search concerns nobody in particular
    rows = {row.tool: row for row in ToolCall.objects.order_by("id")}  # the last of each tool
    bob = Contact.objects.for_org(connected.organization).get(email="bob@example.com")
    assert rows["add_tags"].contact_id == ada.pk and rows["find_contact"].contact_id is None
    assert rows["create_contact"].contact_id == bob.pk

    # when the owner opens Ada's activity
    client.force_login(connected.organization.memberships.first().user)
    page = client.get(f"/orgs/{connected.organization.pk}/agents/activity/", {"contact": ada.pk})

    # then it lists her calls (with the trace ids of the tag push) and not Bob's
    html = page.content.decode()
    assert page.status_code == 200
    assert "<code>get_contact_context</code>" in html and "<code>add_tags</code>" in html
    assert "<code>find_contact</code>" not in html
    assert html.count("<code>create_contact</code>") == 1  # Ada's own creation (the fixture), not Bob's
    tag_trace = rows["add_tags"].ghl_request_ids[0]
    assert tag_trace in html
    bob_page = client.get(f"/orgs/{connected.organization.pk}/agents/activity/", {"contact": bob.pk}).content
    assert b"<code>add_tags</code>" not in bob_page and b"<code>create_contact</code>" in bob_page
