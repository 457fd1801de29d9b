"""Inbound: GHL's message webhooks become messages on the contact's conversation, once, and raise the
"message received" event once; our own send's echo is recognised; people's sends are attributed."""
import threading

import pytest
from django.db import connections

from channels_app.sending import SendCommand, message_send
from crm import events
from crm.models import Contact, Conversation, ExternalIdentity, Message
from crm.services.conversations import message_record_remote
from tests.fixtures.ghl import webhook_payload

from .conftest import LOCATION, deliver, recorded, signed

pytestmark = pytest.mark.django_db(transaction=True)


def received(heard):
    return [e for e in heard if e[0] == events.MESSAGE_RECEIVED]


def test_inbound_sms_is_stored_and_fires_once_even_when_ghl_delivers_twice(ghl, receiver, ana, heard):
    local, ghl_id = ana
    # when: Ana texts, and GHL delivers the webhook twice (same webhookId) and once more under a new id
    ghl.control.inbound_message(ghl_id, "Can I move my visit to Friday?")
    [item] = recorded(ghl, receiver, "InboundMessage")
    again = signed({**item["json"]})  # a second delivery of the same message with another webhookId
    statuses = deliver([item, item, again])
    # then: one message on her phone conversation, one event with what the triggers need
    assert statuses == ["processed", "duplicate", "processed"]
    [message] = Message.objects.all()
    assert (message.direction, message.channel, message.body, message.status, message.sender_type) == (
        "inbound", "sms", "Can I move my visit to Friday?", "received", "contact")
    assert message.provider_message_id == item["json"]["messageId"]
    conversation = Conversation.objects.get()
    assert (conversation.contact_id, conversation.channel_family, conversation.unread_count) == (local.pk, "phone", 1)
    assert conversation.provider_conversation_id == item["json"]["conversationId"]
    [(event, contact_id, data, agent)] = received(heard)
    assert (contact_id, agent) == (local.pk, None)
    assert {k: data[k] for k in ("channel", "message_id", "conversation_id", "body")} == {
        "channel": "sms", "message_id": message.pk, "conversation_id": conversation.pk,
        "body": "Can I move my visit to Friday?"}


def test_a_message_from_an_unknown_contact_brings_the_contact_through_the_sync(ghl, receiver, connection, heard):
    remote = ghl.control.change_contact("create", locationId=LOCATION, firstName="New", lastName="Person",
                                        phone="+15035550199")["contact"]
    recorded(ghl, receiver)  # the ContactCreate is lost
    ghl.control.inbound_message(remote["id"], "Hello, are you open Saturday?")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    person = Contact.objects.get(phone="+15035550199")
    assert ExternalIdentity.objects.get(object_id=person.pk).external_id == remote["id"]
    assert Message.objects.get().conversation.contact == person and len(received(heard)) == 1


def test_email_inbound_lands_in_the_email_conversation_with_its_thread(ghl, receiver, ana, heard):
    local, ghl_id = ana
    sent = message_send(contact=local, command=SendCommand(channel="email", text="Hi", subject="Your visit"))
    recorded(ghl, receiver)
    # when: Ana answers the email (GHL threads it by the email message id)
    ghl.control.inbound_message(ghl_id, "Thanks!", type="Email",
                                emailMessageId=sent.message.provider_email_message_id, subject="Re: Your visit")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    reply = Message.objects.get(direction="inbound")
    assert (reply.channel, reply.subject, reply.conversation_id) == ("email", "Re: Your visit",
                                                                      sent.message.conversation_id)
    assert reply.provider_thread_id == sent.message.provider_thread_id == sent.message.provider_message_id
    assert received(heard)[0][2]["channel"] == "email"


def test_our_own_send_coming_back_is_recognised_not_duplicated(ghl, receiver, ana, heard):
    local, _ = ana
    sent = message_send(contact=local, command=SendCommand(channel="sms", text="Reminder: tomorrow 10:00"),
                        sender_ref="7")
    [echo] = recorded(ghl, receiver, "OutboundMessage")
    assert deliver([echo]) == ["processed"]
    assert list(Message.objects.values_list("pk", flat=True)) == [sent.message.pk]
    assert [e for e in heard if e[0] in (events.MESSAGE_RECEIVED, events.MESSAGE_SENT)] == []


def test_the_echo_that_outruns_our_send_waits_for_it(ghl, receiver, ana, heard):
    """An OutboundMessage for a contact whose send is still waiting for GHL's answer is retried, not recorded."""
    from django.utils import timezone

    from ghl_integration.models import WebhookEvent

    local, ghl_id = ana
    ghl.control.change("message.outbound", contactId=ghl_id, type="SMS", message="x", userId="Us1")
    [item] = recorded(ghl, receiver, "OutboundMessage")
    Message.objects.create(organization=local.organization, conversation=Conversation.objects.create(
        organization=local.organization, contact=local), channel="sms", direction="outbound", body="x",
        status="queued", send_started_at=timezone.now(), provider="ghl")
    [status] = deliver([item])
    event = WebhookEvent.objects.get()
    assert status == event.status and status not in ("processed", "dead"), status
    assert "in flight" in event.last_error and Message.objects.count() == 1


def test_a_person_sending_from_ghl_is_recorded_with_who_sent_it(ghl, receiver, ana, heard):
    local, ghl_id = ana
    ghl.control.change("message.outbound", contactId=ghl_id, type="SMS", message="Hi Ana, Dr. Lee here",
                       userId="SbxDemoUser000000001")
    deliver(recorded(ghl, receiver, "OutboundMessage"))
    message = Message.objects.get()
    assert (message.direction, message.sender_type, message.sender_ref) == ("outbound", "user",
                                                                           "SbxDemoUser000000001")
    assert received(heard) == []
    [(event, contact_id, data, _)] = [e for e in heard if e[0] == events.MESSAGE_SENT]
    assert (contact_id, data["sender_type"], data["body"]) == (local.pk, "user", "Hi Ana, Dr. Lee here")


def test_stop_turns_on_dnd_for_that_channel(ghl, receiver, ana, heard):
    local, ghl_id = ana
    ghl.control.inbound_message(ghl_id, "STOP")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    local.refresh_from_db()
    assert (local.dnd_sms, local.dnd_email, local.dnd_all) == (True, False, False)


def test_unread_updates_keep_the_count_and_older_ones_are_dropped(ghl, receiver, ana):
    local, ghl_id = ana
    ghl.control.inbound_message(ghl_id, "one")
    ghl.control.inbound_message(ghl_id, "two")
    items = recorded(ghl, receiver)
    deliver([i for i in items if i["json"]["type"] == "InboundMessage"])
    unread = [i for i in items if i["json"]["type"] == "ConversationUnreadUpdate"]
    assert Conversation.objects.get().unread_count == 2
    read = signed({**unread[-1]["json"], "unreadCount": 0})
    stale = {**unread[0]}  # delivered late: older than the read
    deliver([read, stale])
    assert Conversation.objects.get().unread_count == 0


@pytest.mark.parametrize(("fixture", "kind"), [("InboundMessage.CallAnswered.json", "call"),
                                                ("InboundMessage.CallVoicemail.json", "voicemail")])
def test_calls_and_voicemails_are_recorded_as_such_without_a_message_event(ghl, ana, heard, fixture, kind):
    local, ghl_id = ana
    payload = {**webhook_payload(fixture), "locationId": LOCATION, "contactId": ghl_id}
    deliver([signed(payload)])
    message = Message.objects.get()
    assert (message.channel, message.kind, message.direction) == ("call", kind, "inbound")
    assert message.conversation.channel_family == "phone" and received(heard) == []


@pytest.mark.skipif(connections["default"].vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_concurrent_first_messages_share_one_conversation(ana):
    local, _ = ana
    barrier, errors = threading.Barrier(4), []

    def write(n):
        try:
            barrier.wait(5)
            message_record_remote(contact=local, channel="sms", direction="inbound", provider="ghl",
                                  provider_message_id=f"race-{n % 2}", body="hi")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join(10) for t in threads]
    assert errors == []
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2
