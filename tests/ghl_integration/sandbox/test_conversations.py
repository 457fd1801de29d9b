from ghl_sandbox import constants as c

LOC = c.DEMO_LOCATION_ID


def _contact(api, **fields):
    body = {"locationId": LOC, "firstName": "Msg", "email": "msg@example.com", "phone": "+15035550123", **fields}
    return api.post("/contacts/", json=body).json()["contact"]


def test_send_sms_and_email_and_list_messages_wrapped(api):
    contact = _contact(api)

    sms = api.post("/conversations/messages", json={"type": "SMS", "contactId": contact["id"], "message": "Hi"})
    email = api.post("/conversations/messages", json={"type": "Email", "contactId": contact["id"],
                                                      "subject": "Hello", "html": "<p>Hi</p>"})

    assert sms.status_code == 200 and set(sms.json()) >= {"conversationId", "messageId"}
    assert "emailMessageId" not in sms.json()
    assert email.json()["emailMessageId"] and email.json()["conversationId"] == sms.json()["conversationId"]
    listing = api.get(f"/conversations/{sms.json()['conversationId']}/messages").json()
    assert set(listing["messages"]) >= {"lastMessageId", "nextPage", "messages"}
    assert [m["id"] for m in listing["messages"]["messages"]] == [email.json()["messageId"], sms.json()["messageId"]]
    paged = api.get(f"/conversations/{sms.json()['conversationId']}/messages", params={"limit": 1}).json()
    assert paged["messages"]["nextPage"] is True
    rest = api.get(f"/conversations/{sms.json()['conversationId']}/messages",
                   params={"limit": 1, "lastMessageId": paged["messages"]["lastMessageId"]}).json()
    assert [m["id"] for m in rest["messages"]["messages"]] == [sms.json()["messageId"]]


def test_send_requires_only_type_and_contact(api):
    assert api.post("/conversations/messages", json={"type": "SMS"}).status_code == 422
    assert api.post("/conversations/messages", json={"contactId": "x"}).status_code == 422
    contact = _contact(api)
    ok = api.post("/conversations/messages", json={"type": "SMS", "contactId": contact["id"], "message": "Yo"})
    assert ok.status_code == 200


def test_whatsapp_free_text_only_within_24_hours_of_the_contacts_last_message(api, sandbox):
    contact = _contact(api)
    send = {"type": "WhatsApp", "contactId": contact["id"], "message": "Yo"}
    refused = api.post("/conversations/messages", json=send)
    assert refused.status_code == 400 and "24-hour" in refused.json()["message"]
    assert api.post("/conversations/messages", json={**send, "templateId": "tpl-1"}).status_code == 200
    sandbox.control.inbound_message(contact["id"], "Hi there", type="WhatsApp")
    assert api.post("/conversations/messages", json=send).status_code == 200


def test_upload_returns_urls_and_refuses_unknown_types(api):
    contact = _contact(api)
    conv = api.post("/conversations/", json={"locationId": LOC, "contactId": contact["id"]}).json()
    form = {"conversationId": conv["conversation"]["id"], "contactId": contact["id"], "locationId": LOC}
    ok = api.post("/conversations/messages/upload", data=form,
                  files=[("fileAttachment", ("a.pdf", b"%PDF", "application/pdf"))])
    assert ok.status_code == 200 and ok.json()["uploadedFiles"]["a.pdf"].endswith("/a.pdf")
    bad = api.post("/conversations/messages/upload", data=form,
                   files=[("fileAttachment", ("a.exe", b"MZ", "application/octet-stream"))])
    assert bad.status_code == 415
    assert api.post("/conversations/messages/upload", data={}).status_code == 422


def test_unread_count_is_set_by_put(api):
    contact = _contact(api)
    conv = api.post("/conversations/", json={"locationId": LOC, "contactId": contact["id"]}).json()
    cid = conv["conversation"]["id"]
    resp = api.put(f"/conversations/{cid}", json={"locationId": LOC, "unreadCount": 0})
    assert resp.status_code == 200 and api.get(f"/conversations/{cid}").json()["unreadCount"] == 0


def test_send_respects_dnd(api):
    contact = _contact(api, dnd=True)
    resp = api.post("/conversations/messages", json={"type": "SMS", "contactId": contact["id"], "message": "Hi"})
    assert resp.status_code == 400


def test_conversation_create_get_search_inbound_and_status(api):
    contact = _contact(api)
    created = api.post("/conversations/", json={"locationId": LOC, "contactId": contact["id"]})
    again = api.post("/conversations/", json={"locationId": LOC, "contactId": contact["id"]})
    assert created.status_code == 201 and created.json()["success"] is True
    assert again.status_code == 400
    conv_id = created.json()["conversation"]["id"]

    inbound = api.post("/conversations/messages/inbound", json={"type": "SMS", "conversationId": conv_id,
                                                                "message": "Reply"})
    got = api.get(f"/conversations/{conv_id}").json()
    found = api.get("/conversations/search", params={"locationId": LOC, "contactId": contact["id"]}).json()
    status = api.put(f"/conversations/messages/{inbound.json()['messageId']}/status", json={"status": "read"})
    bad_status = api.put(f"/conversations/messages/{inbound.json()['messageId']}/status", json={"status": "meh"})

    assert inbound.json()["success"] is True and inbound.json()["conversationId"] == conv_id
    assert got["unreadCount"] == 1 and got["type"] == 1 and got["contactId"] == contact["id"]
    assert found["total"] == 1 and found["conversations"][0]["type"] == "TYPE_PHONE"
    assert found["conversations"][0]["lastMessageBody"] == "Reply"
    assert status.status_code == 200 and bad_status.status_code == 422
