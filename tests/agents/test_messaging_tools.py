"""send_message over REST against the sandbox: each channel visible in GHL, email threads, DND and GHL refusals
as clear errors, attachments through GHL's upload endpoint, a retried send that sends once."""
import base64

import pytest

from crm.models import Contact, Message

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)


def ok(response):
    status, body = response
    assert status == 200 and body["ok"], body
    return body["result"]


def error(response):
    status, body = response
    assert not body["ok"], body
    return status, body["error"]


def sends(ghl):
    return [r for r in ghl.control.request_log(path_prefix="/conversations") if r["method"] == "POST"]


def ghl_messages(ghl, contact_id):
    return [m for m in ghl.control.objects("message", location_id=LOCATION_ID) if m["contactId"] == contact_id]


def test_sms_by_name_is_sent_once_and_visible_in_ghl(ghl, maria, key, call):
    local, ghl_id = maria
    result = ok(call(key, "send_message", {"contact": "maria lopez", "text": "Your cleaning is tomorrow at 10."}))
    assert (result["channel"], result["status"], result["provider"]) == ("sms", "delivered", "ghl")
    [remote] = ghl_messages(ghl, ghl_id)
    assert (remote["body"], remote["direction"], remote["messageType"]) == (
        "Your cleaning is tomorrow at 10.", "outbound", "TYPE_SMS")
    message = Message.objects.get(pk=result["message_id"])
    assert message.provider_message_id == remote["id"] and message.sender_type == "agent"


def test_email_with_subject_html_cc_and_a_reply_into_its_thread(ghl, maria, key, call):
    local, ghl_id = maria
    first = ok(call(key, "send_message", {"contact": "maria@example.com", "channel": "email", "text": "Hello",
                                          "subject": "Your visit", "html": "<p>Hello</p>"}))
    reply = ok(call(key, "send_message", {"contact": "maria@example.com", "channel": "email",
                                          "text": "One more thing"}))
    assert reply["thread_reply"] and reply["subject"] == "Re: Your visit"
    remote = {m["id"]: m for m in ghl_messages(ghl, ghl_id)}
    first_id = Message.objects.get(pk=first["message_id"]).provider_message_id
    reply_id = Message.objects.get(pk=reply["message_id"]).provider_message_id
    assert remote[reply_id]["threadId"] == remote[first_id]["threadId"] == first_id
    assert remote[first_id]["body"] == "<p>Hello</p>" and remote[first_id]["contentType"] == "text/html"
    assert Message.objects.get(pk=reply["message_id"]).provider_thread_id == first_id


def test_whatsapp_needs_the_24_hour_window(ghl, maria, key, call):
    local, ghl_id = maria
    status, err = error(call(key, "send_message", {"contact": "Maria Lopez", "channel": "whatsapp",
                                                   "text": "Hi!"}))
    assert (status, err["code"], err["reason"], err["channel"]) == (400, "invalid", "whatsapp_window", "whatsapp")
    assert Message.objects.get(channel="whatsapp").status == "failed"  # written, refused by GHL, not retried
    ghl.control.inbound_message(ghl_id, "Hello?", type="WhatsApp")
    result = ok(call(key, "send_message", {"contact": "Maria Lopez", "channel": "whatsapp", "text": "Hi!"}))
    assert result["status"] == "delivered"
    assert [m["body"] for m in ghl_messages(ghl, ghl_id) if m["direction"] == "outbound"] == ["Hi!"]


def test_dnd_blocks_the_send_with_a_clear_error_and_no_request(ghl, maria, key, call):
    local, _ = maria
    Contact.objects.filter(pk=local.pk).update(dnd_email=True)
    status, err = error(call(key, "send_message", {"contact": "Maria Lopez", "channel": "email", "text": "Hi",
                                                   "subject": "Hi"}))
    assert (status, err["code"], err["reason"], err["channel"]) == (403, "forbidden", "dnd", "email")
    assert "email" in err["message"]
    assert sends(ghl) == [] and not Message.objects.exists()
    Contact.objects.filter(pk=local.pk).update(dnd_email=False, dnd_all=True)
    _, err = error(call(key, "send_message", {"contact": "Maria Lopez", "text": "Hi"}))
    assert err["reason"] == "dnd" and "every channel" in err["message"] and sends(ghl) == []


def test_ghl_dnd_refusal_is_the_same_clear_error(ghl, maria, key, call):
    local, ghl_id = maria
    ghl.control.change_contact("dnd", contactId=ghl_id, dnd=False,
                               dndSettings={"SMS": {"status": "active", "message": "", "code": ""}})
    ghl.control.clear_request_log()
    status, err = error(call(key, "send_message", {"contact": "Maria Lopez", "text": "Hi"}))
    assert (status, err["code"], err["reason"], err["channel"]) == (403, "forbidden", "dnd", "sms")
    assert "GoHighLevel said" in err["message"]


def test_a_retried_send_sends_once(ghl, maria, key, call):
    body = {"contact": "Maria Lopez", "text": "See you soon", "idempotency_key": "visit-42"}
    first = ok(call(key, "send_message", body))
    again = ok(call(key, "send_message", body))
    assert again["message_id"] == first["message_id"]
    assert len([r for r in sends(ghl) if r["path"] == "/conversations/messages"]) == 1
    _, err = error(call(key, "send_message", {**body, "text": "Something else"}))
    assert err["code"] == "conflict"


def test_a_send_whose_answer_was_lost_is_found_in_ghl_not_sent_again(ghl, maria, org, key, call):
    from datetime import timedelta

    from django.utils import timezone

    from channels_app.sending import message_dispatch

    first = ok(call(key, "send_message", {"contact": "Maria Lopez", "text": "Lost answer"}))
    # given: the worker died after GHL accepted the send, before the answer was stored
    Message.objects.filter(pk=first["message_id"]).update(
        status="queued", provider_message_id="", send_started_at=timezone.now() - timedelta(minutes=5))
    ghl.control.clear_request_log()
    # when: the sweep retries it
    message = message_dispatch(message_id=first["message_id"])
    # then: it asked GHL, found its message, and sent nothing
    assert message.provider_message_id and message.status in ("sent", "delivered")
    assert sends(ghl) == []


def test_attachments_go_through_ghls_upload_endpoint(ghl, maria, key, call):
    local, ghl_id = maria
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    result = ok(call(key, "send_message", {"contact": "Maria Lopez", "channel": "email", "text": "Your invoice",
                                           "subject": "Invoice", "attachments": [
                                               "https://example.com/map.png",
                                               {"name": "invoice.pdf", "content_type": "application/pdf",
                                                "content_base64": pdf}]}))
    paths = [r["path"] for r in sends(ghl)]
    assert "/conversations/messages/upload" in paths
    [remote] = [m for m in ghl_messages(ghl, ghl_id) if m["direction"] == "outbound"]
    assert remote["attachments"][0] == "https://example.com/map.png"
    assert remote["attachments"][1].endswith("/invoice.pdf")
    assert Message.objects.get(pk=result["message_id"]).attachments == remote["attachments"]


def test_default_channel_and_refusals_before_any_request(ghl, org, connected, key, call):
    Contact.objects.create(organization=org, first_name="Nophone", full_name="Nophone Person",
                           email="np@example.com")
    _, err = error(call(key, "send_message", {"contact": "Nophone Person", "channel": "sms", "text": "Hi"}))
    assert (err["code"], err["reason"]) == ("invalid", "missing_phone")
    _, err = error(call(key, "send_message", {"contact": "Nophone Person", "text": "Hi"}))  # default: email
    assert err["field"] == "text" and "subject" in err["message"]
    dry = ok(call(key, "send_message", {"contact": "Nophone Person", "text": "Hi", "subject": "Hello",
                                        "dry_run": True}))
    assert (dry["status"], dry["channel"], dry["message_id"]) == ("dry_run", "email", None)
    assert sends(ghl) == [] and not Message.objects.exists()


def test_ghl_busy_leaves_the_message_pending_and_the_retry_sends_it_once(ghl, maria, monkeypatch):
    from channels_app.sending import SendCommand, message_dispatch, message_send
    from ghl_integration.client import base

    local, ghl_id = maria
    monkeypatch.setattr(base, "DEFAULT_RETRY", base.RetryPolicy(max_attempts=1))  # the client's own retries: none
    ghl.control.faults(api={"http_429": 1.0})
    outcome = message_send(contact=local, command=SendCommand(channel="sms", text="Busy line"),
                           idempotency_key="busy-1")
    assert outcome.error is not None and outcome.error.code == "ghl_unavailable"
    assert outcome.message.status == "pending" and outcome.message.provider_message_id == ""
    ghl.control.clear_faults()
    # when: the queued retry runs (twice: a retry of the retry finds it sent)
    first = message_dispatch(message_id=outcome.message.pk)
    second = message_dispatch(message_id=outcome.message.pk)
    # then: one message in GHL
    assert first.provider_message_id == second.provider_message_id != ""
    assert [m["body"] for m in ghl_messages(ghl, ghl_id)] == ["Busy line"]
