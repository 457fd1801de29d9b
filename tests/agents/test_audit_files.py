"""A file sent inline (send_message's attachments, base64) reaches the tool whole, while the audit row and a run's
steps (tests/agents/runner/test_run_files.py) keep only its name, content type, size and SHA-256; an invalid
attachment's error does not quote it."""
import base64
import hashlib
import json

import pytest

from agents.models import ToolCall
from agents.tools import messaging

pytestmark = pytest.mark.django_db(transaction=True)

PDF = b"%PDF-1.4 " + bytes(range(256)) * 40  # ~10 kB, not text
PDF_B64 = base64.b64encode(PDF).decode()
SUMMARY = {"name": "invoice.pdf", "content_type": "application/pdf", "size_bytes": len(PDF),
           "sha256": hashlib.sha256(PDF).hexdigest()}


@pytest.fixture
def sent_files(monkeypatch):
    """The files each send_message handed to the channel layer (spied on, still sent)."""
    seen = []
    real = messaging.message_send

    def spy(*, command, **kwargs):
        seen.extend(command.files)
        return real(command=command, **kwargs)

    monkeypatch.setattr(messaging, "message_send", spy)
    return seen


def _email(**extra):
    return {"contact": "Maria Lopez", "channel": "email", "text": "Your invoice", "subject": "Invoice",
            "attachments": ["https://example.com/map.png",
                            {"name": "invoice.pdf", "content_type": "application/pdf", "content_base64": PDF_B64}],
            **extra}


def test_the_audit_keeps_a_files_summary_and_the_tool_gets_all_of_it(ghl, maria, key, call, sent_files):
    # when
    status, body = call(key, "send_message", _email(idempotency_key="invoice-1"))
    # then: the file went out whole
    assert status == 200 and body["ok"], body
    assert [(f.name, f.data) for f in sent_files] == [("invoice.pdf", PDF)]
    assert any(r["path"] == "/conversations/messages/upload" for r in ghl.control.request_log())
    # and the audit row holds its summary, not its bytes
    row = ToolCall.objects.get(tool="send_message")
    assert row.input["attachments"] == ["https://example.com/map.png", SUMMARY]
    assert PDF_B64[:40] not in json.dumps(row.input) and row.input["text"] == "Your invoice"


def test_a_file_that_is_not_base64_is_neither_kept_nor_quoted(ghl, maria, key, call):
    junk = "not base64 at all! " * 30
    status, body = call(key, "send_message", {**_email(), "attachments": [
        {"name": "x.pdf", "content_base64": junk}]})
    assert status == 400 and body["error"]["field"] == "attachments.0.content_base64"
    stored = ToolCall.objects.get(tool="send_message").input["attachments"][0]
    assert stored["name"] == "x.pdf" and stored["size_bytes"] is None and junk[:30] not in json.dumps(stored)


def test_an_attachment_the_schema_refuses_is_not_quoted_back(ghl, maria, key, call):
    # a file without its name: jsonschema's own message quotes the whole object, base64 and all
    status, body = call(key, "send_message", {**_email(), "attachments": [{"content_base64": PDF_B64}]})
    assert status == 400 and body["error"]["code"] == "invalid" and body["error"]["field"] == "attachments.0"
    assert PDF_B64[:40] not in json.dumps(body) and len(body["error"]["message"]) < 400
    assert PDF_B64[:40] not in json.dumps(ToolCall.objects.get(tool="send_message").input)



def test_a_file_larger_than_djangos_form_limit_goes_through_rest(ghl, maria, key, call, sent_files, settings):
    # given a 3 MB file: 4 MB of base64, over Django's DATA_UPLOAD_MAX_MEMORY_SIZE, under send_message's 5 MB
    big = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    assert len(base64.b64encode(big)) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    attachment = {"name": "scan.pdf", "content_type": "application/pdf",
                  "content_base64": base64.b64encode(big).decode()}
    # when
    status, body = call(key, "send_message", {**_email(), "attachments": [attachment]})
    # then
    assert status == 200 and body["ok"], body
    assert [(f.name, len(f.data)) for f in sent_files] == [("scan.pdf", len(big))]
    assert ToolCall.objects.get(tool="send_message").input["attachments"][0]["size_bytes"] == len(big)


def test_a_body_over_the_bound_is_refused_with_the_envelope(ghl, maria, key, call, settings):
    settings.AGENT_TOOL_MAX_BODY_BYTES = 4096
    status, body = call(key, "send_message", _email())
    assert status == 413 and body["ok"] is False and body["error"]["code"] == "invalid", body
    assert "4096" in body["error"]["message"] and "link" in body["error"]["hint"]
