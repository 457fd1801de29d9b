"""Conversations and messages (`Version: 2021-04-15`, REFERENCE.md §d). One conversation per contact.

Email threads: a message's `threadId` is the GHL id of the thread's first message; a send naming
`replyMessageId` (or `threadId`) and an inbound email naming the `emailMessageId` it answers join that thread.
Statuses move over time when `messages.status_step_s` > 0 (see config.py); `faults.messages.fail` fails some.
WhatsApp free text is refused outside 24 hours after the contact's last inbound WhatsApp message [gap §d: the
rule is Meta's; GHL's exact wording is undocumented].
"""
import threading
import time

from .. import constants as c
from ..app import route
from ..auth import public
from ..errors import ApiError, bad_request, iso, new_id, now_ms, parse_iso_ms, unprocessable
from ..store import find_by_field

V = c.VERSION_2021_04_15
SEND_TYPES = ("SMS", "RCS", "Email", "WhatsApp", "IG", "FB", "Custom", "Live_Chat", "TIKTOK")
INBOUND_TYPES = ("SMS", "RCS", "Email", "WhatsApp", "GMB", "IG", "FB", "Custom", "WebChat", "Live_Chat", "Call",
                 "IVR_Call", "Campaign_Call", "Campaign_VoiceMail", "TIKTOK", "ALL_IN_ONE_CHAT", "FORM_SUBMISSION")
STATUSES = ("delivered", "failed", "pending", "read")
# channel -> (numeric message type [gap: only some numbers are documented], TYPE_* name, webhook messageType)
CHANNELS = {"SMS": (2, "TYPE_SMS", "SMS"), "Email": (3, "TYPE_EMAIL", "Email"), "Call": (1, "TYPE_CALL", "CALL"),
            "WhatsApp": (19, "TYPE_WHATSAPP", "WhatsApp"), "FB": (11, "TYPE_FACEBOOK", "FB"),
            "IG": (18, "TYPE_INSTAGRAM", "IG"), "Live_Chat": (29, "TYPE_LIVE_CHAT", "Live_Chat")}
WHATSAPP_WINDOW_ERROR = ("Cannot send a free-form WhatsApp message outside the 24-hour customer service window. "
                         "Use an approved template.")
UPLOAD_TYPES = ("jpg", "jpeg", "png", "gif", "mp4", "mpeg", "zip", "rar", "pdf", "doc", "docx", "txt", "mp3", "wav")
UPLOAD_MAX_BYTES = 5 * 1024 * 1024
DND_CHANNEL = {"SMS": "SMS", "Email": "Email", "WhatsApp": "WhatsApp", "Call": "Call", "FB": "FB"}
CONVERSATION_TYPES = {1: "TYPE_PHONE", 2: "TYPE_EMAIL", 3: "TYPE_FB_MESSENGER", 4: "TYPE_REVIEW", 5: "TYPE_GROUP_SMS"}


# -- services --------------------------------------------------------------------------------------------
def conversation_for_contact(sandbox, contact: dict, *, create: bool = True) -> dict | None:
    hits = find_by_field(sandbox.store, "conversation", contact["locationId"], "contactId", contact["id"])
    if hits or not create:
        return hits[0] if hits else None
    ms = now_ms()
    conv = {"id": new_id(), "locationId": contact["locationId"], "contactId": contact["id"], "deleted": False,
            "inbox": True, "type": 1 if contact.get("phone") else 2, "unreadCount": 0, "assignedTo": None,
            "starred": False, "dateAdded": ms, "dateUpdated": ms, "lastMessageDate": None, "lastMessageBody": None,
            "lastMessageType": None, "lastMessageDirection": None}
    return sandbox.store.put("conversation", conv, location_id=contact["locationId"], sort_ms=ms)


def _webhook(msg: dict, *, email: dict | None) -> dict:
    out = {"locationId": msg["locationId"], "attachments": msg["attachments"], "body": msg["body"],
           "contactId": msg["contactId"], "contentType": msg["contentType"], "conversationId": msg["conversationId"],
           "dateAdded": msg["dateAdded"], "direction": msg["direction"], "messageType": msg["_webhookType"],
           "messageId": msg["id"]}
    if msg["direction"] == "outbound":
        out.update(userId=msg.get("userId"), source=msg.get("source"))
    out["status"] = msg["status"]
    if email:
        out.update(email)
    return out


def message_create(sandbox, contact: dict, channel: str, *, direction: str, body: str | None, data: dict,
                   source: str = "api", user_id: str | None = None) -> tuple[dict, dict]:
    """Record a message in the contact's conversation and emit Inbound/OutboundMessage (+ unread update)."""
    conv = conversation_for_contact(sandbox, contact)
    number, type_name, webhook_type = CHANNELS.get(channel, (31, "TYPE_CUSTOM_SMS", channel))
    ms = now_ms()
    status = data.get("status") or ("pending" if data.get("conversationProviderId") else "delivered")
    msg = {"id": new_id(), "type": number, "messageType": type_name, "locationId": contact["locationId"],
           "contactId": contact["id"], "conversationId": conv["id"], "dateAdded": iso(ms), "body": body or "",
           "direction": direction, "status": status, "contentType": "text/plain",
           "attachments": data.get("attachments") or [], "meta": {}, "source": source, "userId": user_id,
           "conversationProviderId": data.get("conversationProviderId"), "_webhookType": webhook_type}
    email = None
    if channel == "Email":
        msg["emailMessageId"] = new_id()
        msg["contentType"] = "text/html" if data.get("html") else "text/plain"
        msg["body"] = data.get("html") or body or ""
        msg["threadId"] = _email_thread(sandbox, contact, data) or msg["id"]
        msg["subject"] = data.get("subject") or ""
        msg["meta"] = {"email": {"messageIds": [msg["emailMessageId"]]}}
        email = {"emailMessageId": msg["emailMessageId"], "threadId": msg["threadId"],
                 "provider": "leadconnector_email", "from": data.get("emailFrom") or "sandbox@example.com",
                 "to": [data.get("emailTo") or contact.get("email")], "cc": data.get("emailCc") or [],
                 "bcc": data.get("emailBcc") or [], "subject": data.get("subject") or ""}
    sandbox.store.put("message", msg, location_id=contact["locationId"], sort_ms=ms)
    conv.update(lastMessageDate=ms, dateUpdated=ms, lastMessageBody=msg["body"], lastMessageType=type_name,
                lastMessageDirection=direction)
    if direction == "inbound":
        conv["unreadCount"] = conv.get("unreadCount", 0) + 1
    sandbox.store.put("conversation", conv, location_id=conv["locationId"], sort_ms=conv["dateAdded"])
    event = "InboundMessage" if direction == "inbound" else "OutboundMessage"
    sandbox.dispatcher.emit(event, contact["locationId"], _webhook(msg, email=email))
    if direction == "inbound":
        sandbox.dispatcher.emit("ConversationUnreadUpdate", conv["locationId"], {
            "locationId": conv["locationId"], "id": conv["id"], "contactId": conv["contactId"],
            "deleted": conv["deleted"], "inbox": conv["inbox"], "starred": conv["starred"],
            "unreadCount": conv["unreadCount"]})
    return conv, msg


def _email_thread(sandbox, contact: dict, data: dict) -> str | None:
    """The thread a new email joins: the replied message's, a named thread, or the email it answers."""
    if data.get("replyMessageId"):
        replied = sandbox.store.get("message", data["replyMessageId"])
        if replied and replied["contactId"] == contact["id"]:
            return replied.get("threadId") or replied["id"]
    if data.get("threadId"):
        return data["threadId"]
    if data.get("emailMessageId"):
        for other in find_by_field(sandbox.store, "message", contact["locationId"], "contactId", contact["id"]):
            if other.get("emailMessageId") == data["emailMessageId"]:
                return other.get("threadId") or other["id"]
    return None


def _whatsapp_window_open(sandbox, contact: dict) -> bool:
    hours = float(sandbox.config["messages"].get("whatsapp_window_h", 24))
    since = now_ms() - int(hours * 3600 * 1000)
    return any(m["direction"] == "inbound" and m["_webhookType"] == "WhatsApp" and parse_iso_ms(m["dateAdded"]) >= since
               for m in find_by_field(sandbox.store, "message", contact["locationId"], "contactId", contact["id"]))


def _email_stats(sandbox, msg: dict, event: str, reason: str = "") -> None:
    contact = sandbox.store.get("contact", msg["contactId"]) or {}
    location = sandbox.store.get("location", msg["locationId"]) or {}
    sandbox.dispatcher.emit("LCEmailStats", msg["locationId"], {
        "companyId": location.get("companyId"),
        "webhookPayload": {
            "event": event, "id": new_id(), "timestamp": int(time.time()),
            "message": {"headers": {"message-id": f"<{msg['emailMessageId']}@mail.sandbox.leadconnectorhq.local>",
                                    "to": contact.get("email")}, "attachments": [], "size": len(msg["body"])},
            "recipient": contact.get("email"), "log-level": "error" if event == "failed" else "info",
            "delivery-status": {"code": 550 if event == "failed" else 250, "message": reason or "OK"}}})


def _advance_status(sandbox, message_id: str, steps: list[str], step_s: float) -> None:
    """Move a sent message one status on, then schedule the next (stops when the message is gone: a reset)."""
    msg = sandbox.store.get("message", message_id)
    if msg is None or not steps:
        return
    status, rest = steps[0], steps[1:]
    msg["status"] = status
    if status == "failed":
        reason = sandbox.config["faults"]["messages"].get("fail_reason") or "failed"
        msg["meta"] = {**msg.get("meta", {}), "error": {"code": "30007", "type": "carrier", "message": reason}}
    sandbox.store.put("message", msg, location_id=msg["locationId"], sort_ms=parse_iso_ms(msg["dateAdded"]))
    if msg.get("emailMessageId"):
        _email_stats(sandbox, msg, status, msg.get("meta", {}).get("error", {}).get("message", ""))
    if rest:
        _timer(step_s, _advance_status, sandbox, message_id, rest, step_s)


def _timer(delay: float, fn, *args) -> None:
    timer = threading.Timer(delay, fn, args)
    timer.daemon = True
    timer.start()


# -- handlers --------------------------------------------------------------------------------------------
def _search_item(ctx, conv: dict) -> dict:
    contact = ctx.store.get("contact", conv["contactId"]) or {}
    return {"id": conv["id"], "contactId": conv["contactId"], "locationId": conv["locationId"],
            "lastMessageBody": conv.get("lastMessageBody"), "lastMessageType": conv.get("lastMessageType"),
            "type": CONVERSATION_TYPES.get(conv["type"], "TYPE_PHONE"), "unreadCount": conv["unreadCount"],
            "fullName": contact.get("name"), "contactName": contact.get("name"), "email": contact.get("email"),
            "phone": contact.get("phone"), "assignedTo": conv.get("assignedTo"), "inbox": conv["inbox"],
            "starred": conv["starred"], "deleted": conv["deleted"], "dateAdded": conv["dateAdded"],
            "dateUpdated": conv["dateUpdated"],
            "lastMessageDate": str(conv["lastMessageDate"]) if conv.get("lastMessageDate") else None,
            "lastMessageDirection": conv.get("lastMessageDirection")}


def search_conversations(ctx):
    q = ctx.query
    location_id = ctx.check_location(q.get("locationId"))
    convs = ctx.store.list("conversation", location_id)
    if q.get("contactId"):
        convs = [cv for cv in convs if cv["contactId"] == q["contactId"]]
    if q.get("id"):
        convs = [cv for cv in convs if cv["id"] == q["id"]]
    if q.get("status") == "unread":
        convs = [cv for cv in convs if cv["unreadCount"] > 0]
    elif q.get("status") == "starred":
        convs = [cv for cv in convs if cv["starred"]]
    if q.get("lastMessageDirection"):
        convs = [cv for cv in convs if cv.get("lastMessageDirection") == q["lastMessageDirection"]]
    desc = q.get("sort", "desc") != "asc"
    convs.sort(key=lambda cv: (cv.get("lastMessageDate") or cv["dateAdded"], cv["id"]), reverse=desc)
    total = len(convs)
    if q.get("startAfterDate"):
        after = int(str(q["startAfterDate"]).split(",")[0])
        convs = [cv for cv in convs if ((cv.get("lastMessageDate") or cv["dateAdded"]) < after if desc
                                        else (cv.get("lastMessageDate") or cv["dateAdded"]) > after)]
    limit = int(q.get("limit", "20") or 20)
    items = []
    for cv in convs[:limit]:
        item = _search_item(ctx, cv)
        item["sort"] = [cv.get("lastMessageDate") or cv["dateAdded"]]
        items.append(item)
    return 200, {"conversations": items, "total": total}


def get_conversation(ctx):
    conv = ctx.load("conversation", ctx.params["conversationId"], "Conversation")
    keys = ("contactId", "locationId", "deleted", "inbox", "type", "unreadCount", "assignedTo", "id", "starred")
    return 200, {k: conv.get(k) for k in keys}


def create_conversation(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    if not body.get("contactId"):
        raise unprocessable("contactId should not be empty")
    contact = ctx.load("contact", body["contactId"], "Contact")
    if contact["locationId"] != location_id:
        raise bad_request("Contact not found")
    if conversation_for_contact(ctx.sandbox, contact, create=False):
        raise bad_request("Conversation already exists")
    conv = conversation_for_contact(ctx.sandbox, contact)
    return 201, {"success": True, "conversation": {
        "id": conv["id"], "dateUpdated": iso(conv["dateUpdated"]), "dateAdded": iso(conv["dateAdded"]),
        "deleted": conv["deleted"], "contactId": conv["contactId"], "locationId": conv["locationId"],
        "lastMessageDate": iso(conv.get("lastMessageDate") or conv["dateAdded"]), "assignedTo": conv["assignedTo"]}}


def _message_out(msg: dict) -> dict:
    return public(msg)


def list_messages(ctx):
    conv = ctx.load("conversation", ctx.params["conversationId"], "Conversation")
    msgs = find_by_field(ctx.store, "message", conv["locationId"], "conversationId", conv["id"])
    msgs.sort(key=lambda m: (parse_iso_ms(m["dateAdded"]), m["id"]), reverse=True)
    if ctx.query.get("type"):
        wanted = set(ctx.query["type"].split(","))
        msgs = [m for m in msgs if m["messageType"] in wanted]
    if ctx.query.get("lastMessageId"):
        ids = [m["id"] for m in msgs]
        if ctx.query["lastMessageId"] in ids:
            msgs = msgs[ids.index(ctx.query["lastMessageId"]) + 1:]
    limit = int(ctx.query.get("limit", "20") or 20)
    page = msgs[:limit]
    inner = {"lastMessageId": page[-1]["id"] if page else None, "nextPage": len(msgs) > limit,
             "messages": [_message_out(m) for m in page]}
    # Wrapped form (spec-2025 and the long-standing docs) by default; the 2026 spec shows it flat [gap §i.3].
    if ctx.sandbox.config["messages_flat"]:
        return 200, inner
    return 200, {"messages": inner}


def send_message(ctx):
    body = ctx.json()
    errors = []
    if body.get("type") not in SEND_TYPES:
        errors.append("type must be one of the following values: " + ", ".join(SEND_TYPES))
    if not body.get("contactId"):
        errors.append("contactId should not be empty")
    if errors:
        raise unprocessable(*errors)
    contact = ctx.load("contact", body["contactId"], "Contact")
    channel = body["type"]
    dnd_key = DND_CHANNEL.get(channel)
    dnd_status = ((contact.get("dndSettings") or {}).get(dnd_key) or {}).get("status")
    if contact.get("dnd") or dnd_status in ("active", "permanent"):
        raise bad_request(f"Cannot send message as DND is active for {channel}.")
    if channel in ("SMS", "WhatsApp") and not contact.get("phone") and not body.get("toNumber"):
        raise bad_request("Missing phone number")
    if channel == "Email":
        if not (body.get("emailTo") or contact.get("email")):
            raise bad_request("Missing email address")
        if not (body.get("html") or body.get("message") or body.get("templateId")):
            raise bad_request("There is no message or attachments for this message. Skip sending.")
    elif not (body.get("message") or body.get("attachments") or body.get("templateId")):
        raise bad_request("There is no message or attachments for this message. Skip sending.")
    if channel == "WhatsApp" and not body.get("templateId") and not _whatsapp_window_open(ctx.sandbox, contact):
        raise bad_request(WHATSAPP_WINDOW_ERROR)
    step_s = float(ctx.sandbox.config["messages"].get("status_step_s") or 0)
    data = {**body, "status": "pending"} if step_s > 0 else body
    conv, msg = message_create(ctx.sandbox, contact, channel, direction="outbound", body=body.get("message"),
                               data=data, source="api", user_id=ctx.token.get("userId"))
    if step_s > 0:
        steps = ["failed"] if ctx.sandbox.faults.message_fails() else ["sent", "delivered"]
        _timer(step_s, _advance_status, ctx.sandbox, msg["id"], steps, step_s)
    out = {"conversationId": conv["id"], "messageId": msg["id"], "msg": "Message queued successfully.",
           "status": msg["status"]}
    if channel == "Email":
        out["emailMessageId"] = msg["emailMessageId"]
    return 200, out


def inbound_message(ctx):
    body = ctx.json()
    if body.get("type") not in INBOUND_TYPES:
        raise unprocessable("type must be one of the following values: " + ", ".join(INBOUND_TYPES))
    contact = None
    if body.get("conversationId"):
        conv = ctx.load("conversation", body["conversationId"], "Conversation")
        contact = ctx.store.get("contact", conv["contactId"])
    elif body.get("contactId"):
        contact = ctx.load("contact", body["contactId"], "Contact")
    if contact is None:
        raise unprocessable("conversationId should not be empty")
    conv, msg = message_create(ctx.sandbox, contact, body["type"], direction=body.get("direction", "inbound"),
                               body=body.get("message"), data=body, source="api")
    return 200, {"success": True, "conversationId": conv["id"], "messageId": msg["id"],
                 "message": "Message added successfully", "contactId": contact["id"], "dateAdded": msg["dateAdded"],
                 "emailMessageId": msg.get("emailMessageId")}


def update_status(ctx):
    body = ctx.json()
    if body.get("status") not in STATUSES:
        raise unprocessable("status must be one of the following values: " + ", ".join(STATUSES))
    msg = ctx.load("message", ctx.params["messageId"], "Message")
    msg["status"] = body["status"]
    if body.get("error"):
        msg["meta"] = {**msg.get("meta", {}), "error": body["error"]}
    ctx.store.put("message", msg, location_id=msg["locationId"], sort_ms=parse_iso_ms(msg["dateAdded"]))
    return 200, {"conversationId": msg["conversationId"], "messageId": msg["id"], "status": msg["status"]}


def update_conversation(ctx):
    conv = ctx.load("conversation", ctx.params["conversationId"], "Conversation")
    body = ctx.json()
    ctx.check_location(body.get("locationId"))
    if "unreadCount" in body:
        if not isinstance(body["unreadCount"], int) or body["unreadCount"] < 0:
            raise unprocessable("unreadCount must be a positive number")
        changed = conv["unreadCount"] != body["unreadCount"]
        conv["unreadCount"] = body["unreadCount"]
    else:
        changed = False
    if "starred" in body:
        conv["starred"] = bool(body["starred"])
    conv["dateUpdated"] = now_ms()
    ctx.store.put("conversation", conv, location_id=conv["locationId"], sort_ms=conv["dateAdded"])
    if changed:
        ctx.emit("ConversationUnreadUpdate", conv["locationId"], {
            "id": conv["id"], "contactId": conv["contactId"], "deleted": conv["deleted"], "inbox": conv["inbox"],
            "starred": conv["starred"], "unreadCount": conv["unreadCount"]})
    return 200, {"success": True, "conversation": {k: conv.get(k) for k in (
        "id", "locationId", "contactId", "unreadCount", "starred", "deleted", "inbox", "assignedTo")}}


def upload_attachments(ctx):
    form, files = ctx.request.form, ctx.request.files.getlist("fileAttachment")
    missing = [f"{name} should not be empty" for name in ("conversationId", "contactId", "locationId")
               if not form.get(name)]
    if missing:
        raise unprocessable(*missing)
    ctx.check_location(form["locationId"])
    conv = ctx.load("conversation", form["conversationId"], "Conversation")
    if conv["contactId"] != form["contactId"]:
        raise bad_request("Contact does not belong to this conversation")
    if not files:
        raise unprocessable("fileAttachment should not be empty")
    uploaded = {}
    for item in files:
        name = item.filename or "file"
        data = item.read()
        if name.rsplit(".", 1)[-1].lower() not in UPLOAD_TYPES:
            raise ApiError(415, {"status": 415, "message": f"File type not allowed: {name}"})
        if len(data) > UPLOAD_MAX_BYTES:
            raise ApiError(413, {"status": 413, "message": f"File too large: {name}"})
        uploaded[name] = f"https://storage.sandbox.leadconnectorhq.local/{conv['locationId']}/{new_id()}/{name}"
    return 200, {"uploadedFiles": uploaded}


def get_message(ctx):
    # GetMessageResponseDto is the message itself, not wrapped (unlike GET /contacts/{id}).
    return 200, _message_out(ctx.load("message", ctx.params["messageId"], "Message"))


ROUTES = [
    route("GET", "/conversations/search", search_conversations, scope="conversations.readonly", version=V),
    route("POST", "/conversations/messages/upload", upload_attachments, scope="conversations/message.write",
          version=V),
    route("POST", "/conversations/messages/inbound", inbound_message, scope="conversations/message.write", version=V),
    route("POST", "/conversations/messages", send_message, scope="conversations/message.write", version=V),
    route("PUT", "/conversations/messages/{messageId}/status", update_status, scope="conversations/message.write",
          version=V),
    route("GET", "/conversations/messages/{messageId}", get_message, scope="conversations/message.readonly",
          version=V),
    route("POST", "/conversations/", create_conversation, scope="conversations.write", version=V),
    route("GET", "/conversations/{conversationId}/messages", list_messages, scope="conversations/message.readonly",
          version=V),
    route("GET", "/conversations/{conversationId}", get_conversation, scope="conversations.readonly", version=V),
    route("PUT", "/conversations/{conversationId}", update_conversation, scope="conversations.write", version=V),
]
