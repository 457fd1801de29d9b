"""Conversations and messages through the client against the sandbox (REFERENCE.md §d)."""


def _contact(ghl, **fields):
    return ghl.contacts.create({"firstName": "Mia", "email": "mia@example.com", "phone": "+15035550177", **fields})


def test_send_sms_email_whatsapp_then_search_get_and_list(ghl):
    contact = _contact(ghl)

    sms = ghl.conversations.send_sms(contact["id"], "Your cleaning is tomorrow at 9")
    email = ghl.conversations.send_email(contact["id"], subject="Reminder", html="<p>See you</p>")
    # free-form WhatsApp needs the customer's message within 24 hours, else a template
    whatsapp = ghl.conversations.send_whatsapp(contact["id"], template_id="appointment_reminder")
    found = ghl.conversations.search(contact_id=contact["id"])
    conversation = ghl.conversations.get(sms["conversationId"])
    page = ghl.conversations.list_messages(sms["conversationId"], limit=2)
    every = list(ghl.conversations.iter_messages(sms["conversationId"], page_size=2))
    message = ghl.conversations.get_message(sms["messageId"])

    assert sms["conversationId"] == email["conversationId"] == whatsapp["conversationId"]  # one per contact
    assert email["emailMessageId"]
    assert [c["id"] for c in found["conversations"]] == [sms["conversationId"]] and found["total"] == 1
    assert conversation["id"] == sms["conversationId"] and conversation["contactId"] == contact["id"]
    assert len(page["messages"]) == 2 and page["nextPage"] is True
    assert [m["id"] for m in every] == [whatsapp["messageId"], email["messageId"], sms["messageId"]]  # newest first
    assert message["id"] == sms["messageId"] and message["body"] == "Your cleaning is tomorrow at 9"


def test_list_messages_filtered_by_type(ghl):
    contact = _contact(ghl)
    sms = ghl.conversations.send_sms(contact["id"], "one")
    ghl.conversations.send_email(contact["id"], subject="s", message="two")

    page = ghl.conversations.list_messages(sms["conversationId"], types=["TYPE_SMS", "TYPE_WHATSAPP"])

    assert [m["id"] for m in page["messages"]] == [sms["messageId"]]


def test_iter_search_follows_start_after_date(ghl):
    contacts = [_contact(ghl, email=f"p{i}@example.com", phone=f"+1503555020{i}") for i in range(5)]
    for contact in contacts:
        ghl.conversations.send_sms(contact["id"], "hello")

    every = list(ghl.conversations.iter_search(page_size=2))

    assert {c["contactId"] for c in every} >= {c["id"] for c in contacts}
    assert len(every) == len({c["id"] for c in every})


def test_update_message_status(ghl, sandbox):
    contact = _contact(ghl)
    sent = ghl.conversations.send_sms(contact["id"], "hi")

    ghl.conversations.update_message_status(sent["messageId"], "failed",
                                            error={"code": "1", "type": "saas", "message": "carrier rejected"})

    assert ghl.conversations.get_message(sent["messageId"])["status"] == "failed"
    assert sandbox.control.objects("message", sent["messageId"])["status"] == "failed"
