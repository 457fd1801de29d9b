"""Delivery status: the sandbox moves statuses over time (and fails some); GHL's email events and the polling
fallback move ours forwards only, whatever order the events come in."""
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.sending import SendCommand, message_send
from channels_app.status import messages_poll_status
from crm.models import Message

from .conftest import deliver, recorded

pytestmark = pytest.mark.django_db(transaction=True)


def wait_status(ghl, message_id, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = ghl.control.objects("message", id=message_id)
        if doc["status"] == status:
            return doc
        time.sleep(0.05)
    raise AssertionError(f"{message_id} never became {status}: {doc['status']}")


def test_email_status_events_in_any_order_only_move_forwards(ghl, receiver, ana):
    local, _ = ana
    ghl.control.config(messages={"status_step_s": 0.2})
    sent = message_send(contact=local, command=SendCommand(channel="email", text="Hi", subject="Visit"))
    assert sent.status == "sent"  # GHL answered "pending": it has the message
    wait_status(ghl, sent.message.provider_message_id, "delivered")
    stats = recorded(ghl, receiver, "LCEmailStats")
    assert [s["json"]["webhookPayload"]["event"] for s in stats] == ["sent", "delivered"]
    # when: GHL's events arrive reversed
    deliver(list(reversed(stats)))
    # then: delivered, not back to sent
    message = Message.objects.get(pk=sent.message.pk)
    assert message.status == "delivered" and message.status_changed_at is not None


def test_polling_fallback_brings_sms_status_and_failures_with_ghls_reason(ghl, ana):
    local, _ = ana
    ghl.control.config(messages={"status_step_s": 0.1})
    ok = message_send(contact=local, command=SendCommand(channel="sms", text="Hi"))
    ghl.control.faults(messages={"fail": 1.0, "fail_reason": "Carrier rejected the message (30007)"})
    bad = message_send(contact=local, command=SendCommand(channel="sms", text="Hi again"))
    wait_status(ghl, ok.message.provider_message_id, "delivered")
    wait_status(ghl, bad.message.provider_message_id, "failed")
    assert messages_poll_status() == 0  # too young: webhooks usually win
    Message.objects.update(send_started_at=timezone.now() - timedelta(minutes=1))
    assert messages_poll_status() == 2
    ok.message.refresh_from_db(), bad.message.refresh_from_db()
    assert ok.message.status == "delivered"
    assert (bad.message.status, bad.message.error) == ("failed", "Carrier rejected the message (30007)")
    assert messages_poll_status() == 0  # final statuses are not polled again (delivered may still be read)


def test_a_late_outbound_event_does_not_move_a_read_message_back(ghl, receiver, ana):
    local, _ = ana
    sent = message_send(contact=local, command=SendCommand(channel="sms", text="Hi"))
    [echo] = recorded(ghl, receiver, "OutboundMessage")
    Message.objects.filter(pk=sent.message.pk).update(status="read")
    deliver([echo])  # carries "delivered"
    assert Message.objects.get(pk=sent.message.pk).status == "read"
