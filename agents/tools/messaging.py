"""The messaging tools: send_message, list_conversations, get_messages, mark_conversation_read.

Sends go through `channels_app` (consent, routing, the send command); reads come from the local mirror.
"""
import base64
import binascii
from typing import Any

from channels_app.errors import ChannelError, SendRefused
from channels_app.providers.base import FileAttachment
from channels_app.sending import IdempotencyConflict, SendCommand, default_channel, message_send
from crm.account import crm_account_for
from crm.models import Message
from crm.selectors.conversations import conversation_list, conversations_synced_at, message_page, messages_by_id
from crm.selectors.mirror import newest_of

from .dispatch import ToolContext
from .errors import ToolError
from .registry import Tool, registry
from .resolve import contact_resolve

CHANNELS = ["sms", "email", "whatsapp"]
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
# Refusal code -> (tool error code, the input at fault)
REFUSAL_ERRORS = {
    "dnd": ("forbidden", "channel"), "missing_phone": ("invalid", "channel"), "missing_email": ("invalid", "channel"),
    "whatsapp_window": ("invalid", "channel"), "unsupported": ("invalid", "channel"), "invalid": ("invalid", "text"),
    "no_provider": ("not_connected", "channel"), "not_linked": ("not_found", "contact"),
    "conflict": ("conflict", "idempotency_key"),
}
HINTS = {
    "dnd": "Do not message them on this channel. Tell the user the contact opted out; only a person may change it.",
    "whatsapp_window": "Send by SMS instead, or ask a person to send an approved WhatsApp template.",
    "missing_phone": "Use channel \"email\", or add their phone with update_contact first.",
    "missing_email": "Use channel \"sms\", or add their email with update_contact first.",
}
CONTACT_REF = {"type": "string", "minLength": 1, "maxLength": 320,
               "description": "Who: a name (fuzzy), an email, a phone, a contact_id or a GHL contact id."}
MESSAGE_OUT = {
    "type": "object",
    "properties": {
        "message_id": {"type": ["integer", "null"]}, "channel": {"type": "string"},
        "status": {"type": "string", "description": "pending: written, not yet handed over; queued: handed over, "
                   "answer pending; sent; delivered; read; failed/undelivered (see error); dry_run."},
        "provider": {"type": "string"}, "conversation_id": {"type": ["integer", "null"]},
        "replayed": {"type": "boolean"}, "thread_reply": {"type": "boolean"}, "note": {"type": "string"},
    },
    "required": ["message_id", "channel", "status"],
}


def refusal_error(exc: ChannelError) -> ToolError:
    code, field = REFUSAL_ERRORS.get(exc.code, ("invalid", "channel"))
    return ToolError(code, exc.message, field=field, hint=HINTS.get(exc.code) or exc.hint or None,
                     extra={"reason": exc.code, "channel": exc.channel} if exc.channel else {"reason": exc.code})


def _files(attachments: list) -> tuple[list[str], list[FileAttachment]]:
    urls, files = [], []
    for index, item in enumerate(attachments or []):
        if isinstance(item, str):
            if not item.startswith(("https://", "http://")):
                raise ToolError("invalid", f"`attachments.{index}` is not a URL.", field=f"attachments.{index}",
                                hint="Give an http(s) URL, or {name, content_base64} for a file.")
            urls.append(item)
            continue
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ToolError("invalid", f"`attachments.{index}.content_base64` is not base64.",
                            field=f"attachments.{index}.content_base64", hint="Encode the file's bytes as base64.")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise ToolError("invalid", f"`attachments.{index}` is larger than 5 MB.", field=f"attachments.{index}",
                            hint="Send a link to the file instead.")
        files.append(FileAttachment(name=item["name"], content_type=item.get("content_type")
                                    or "application/octet-stream", data=data))
    return urls, files


def send_message(ctx: ToolContext, *, contact: str, text: str, channel: str | None = None, subject: str = "",
                 html: str = "", attachments: list | None = None) -> dict[str, Any]:
    match = contact_resolve(organization=ctx.organization, ref=contact)
    person = match.contact
    ctx.concerns(person)
    urls, files = _files(attachments or [])
    command = SendCommand(channel=channel or default_channel(person), text=text, subject=subject, html=html,
                          attachment_urls=urls, files=files)
    try:
        outcome = message_send(contact=person, command=command, idempotency_key=ctx.idempotency_key or "",
                               sender_type=Message.SenderType.AGENT, sender_ref=str(ctx.agent.pk),
                               dry_run=ctx.dry_run)
    except (SendRefused, IdempotencyConflict) as exc:
        raise refusal_error(exc)
    ctx.outcome = outcome.status
    message = outcome.message
    result = {"message_id": message.pk if message else None, "channel": outcome.channel, "status": outcome.status,
              "provider": outcome.provider_key, "conversation_id": message.conversation_id if message else None,
              "replayed": outcome.replayed, "thread_reply": outcome.thread_reply,
              "to": {"contact_id": person.pk, "name": person.full_name,
                     "address": person.email if outcome.channel == "email" else person.phone}}
    if message is not None and message.provider_message_id:
        ctx.ghl_refs.append(message.provider_message_id)
    if outcome.dry_run:
        result["note"] = "Nothing was sent: consent, address and channel checks passed."
    elif outcome.error is not None:
        result["note"] = (f"Saved, not yet sent: {outcome.error.message} It is retried automatically; do not "
                          "send it again.")
    if outcome.channel == "email":
        result["subject"] = message.subject if message else command.subject
    return result


ATTACHMENT = {"oneOf": [
    {"type": "string", "minLength": 8, "maxLength": 2000, "description": "A public http(s) URL."},
    {"type": "object", "additionalProperties": False, "required": ["name", "content_base64"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "File name with extension."},
        "content_type": {"type": "string", "maxLength": 100},
        "content_base64": {"type": "string", "minLength": 1}}},
]}

registry.register(Tool(
    name="send_message", family="messaging", title="Send a message", writes=True,
    description="Send an SMS, email or WhatsApp message to a contact through GoHighLevel. Without `channel` it "
                "uses the channel of the contact's last inbound message, else SMS when they have a phone. An "
                "email without `subject` replies into the contact's last email thread. Answers with the "
                "message id, channel and delivery status (sent → delivered → read; get_messages shows later "
                "statuses). Pass an `idempotency_key` so a retry never sends twice. Errors: `forbidden` with "
                "reason `dnd` (the contact opted out of that channel: do not retry, tell the user), `invalid` "
                "with reason missing_phone / missing_email / whatsapp_window / unsupported (change the channel "
                "or the input as the hint says), `not_found`/`ambiguous` (who is meant), `not_connected` (GHL is "
                "not connected), `conflict` (the idempotency_key was used for another message).",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact", "text"], "properties": {
        "contact": CONTACT_REF,
        "text": {"type": "string", "minLength": 1, "maxLength": 10000,
                 "description": "The message text (for email: the plain-text body)."},
        "channel": {"type": "string", "enum": CHANNELS},
        "subject": {"type": "string", "maxLength": 255, "description": "Email only."},
        "html": {"type": "string", "maxLength": 200000, "description": "Email only: the HTML body."},
        "attachments": {"type": "array", "maxItems": 10, "items": ATTACHMENT,
                        "description": "URLs, or files as {name, content_type, content_base64} (uploaded to GHL)."},
    }},
    output_schema=MESSAGE_OUT, fn=send_message,
))


# -- reads and mark-read ---------------------------------------------------------------------------------------
def message_out(message: Message) -> dict[str, Any]:
    out = {"message_id": message.pk, "direction": message.direction, "channel": message.channel,
           "kind": message.kind, "status": message.status, "body": message.body[:2000],
           "at": message.created_at.isoformat(), "sender": message.sender_type or None,
           "conversation_id": message.conversation_id}
    if message.subject:
        out["subject"] = message.subject
    if message.attachments:
        out["attachments"] = list(message.attachments)
    if message.error:
        out["error"] = message.error
    if message.kind != Message.Kind.MESSAGE and message.meta.get("callDuration") is not None:
        out["call_duration_s"] = message.meta["callDuration"]
    return out


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _synced(ctx: ToolContext, conversation_ids: list[int]) -> tuple[dict[int, Any], Any]:
    """Per conversation, and for all of them: the last time the mirror is known to have agreed with GHL about
    it: the newest change of a message GHL has (webhooks bring them within seconds), or the messages
    reconciliation's check, whichever is later (see `crm.account.CrmAccount.messages_checked_at`)."""
    account = crm_account_for(ctx.organization)
    checked = account.messages_checked_at if account is not None else None
    per = conversations_synced_at(organization=ctx.organization, conversation_ids=conversation_ids)
    synced = {pk: newest_of(per.get(pk), checked) for pk in conversation_ids}
    return synced, newest_of(checked, *per.values())


def list_conversations(ctx: ToolContext, *, contact: str | None = None, unread_only: bool = False,
                       limit: int = 20) -> dict[str, Any]:
    person = contact_resolve(organization=ctx.organization, ref=contact).contact if contact else None
    ctx.concerns(person)
    rows = list(conversation_list(organization=ctx.organization, contact=person, unread_only=unread_only)[:limit])
    last = messages_by_id(organization=ctx.organization, ids=[r.last_message_pk for r in rows])
    synced, synced_at = _synced(ctx, [r.pk for r in rows])
    return {"conversations": [{
        "conversation_id": r.pk, "contact": {"contact_id": r.contact_id, "name": r.contact.full_name},
        "channel_family": r.channel_family, "unread_count": r.unread_count,
        "last_message_at": _iso(r.last_message_at),
        "last_message": message_out(last[r.last_message_pk]) if r.last_message_pk in last else None,
        "synced_at": _iso(synced[r.pk]),
    } for r in rows], "count": len(rows), "synced_at": _iso(synced_at)}


def _conversation(ctx: ToolContext, conversation_id: int):
    from crm.models import Conversation

    found = Conversation.objects.for_org(ctx.organization).filter(pk=conversation_id).select_related("contact").first()
    if found is None:
        raise ToolError("not_found", f"There is no conversation {conversation_id} in this organization.",
                        field="conversation_id", hint="Use list_conversations to find it, or pass `contact`.")
    return found


def _who(ctx: ToolContext, contact: str | None, conversation_id: int | None):
    if conversation_id is None and not contact:
        raise ToolError("invalid", "`contact` is required (or `conversation_id`).", field="contact",
                        hint="Name the person, e.g. {\"contact\": \"Jane Doe\"}.")
    if conversation_id is not None:
        conversation = _conversation(ctx, conversation_id)
        ctx.concerns(conversation.contact_id)
        return None, conversation
    person = contact_resolve(organization=ctx.organization, ref=contact).contact
    ctx.concerns(person)
    return person, None


def get_messages(ctx: ToolContext, *, contact: str | None = None, conversation_id: int | None = None,
                 limit: int = 20, before: str | None = None) -> dict[str, Any]:
    from datetime import datetime

    person, conversation = _who(ctx, contact, conversation_id)
    when = None
    if before:
        try:
            when = datetime.fromisoformat(before.replace("Z", "+00:00"))
        except ValueError:
            raise ToolError("invalid", f"`before`: “{before}” is not an ISO date-time.", field="before",
                            hint="Pass the `at` of the oldest message you have, e.g. 2026-03-14T16:21:05+00:00.")
        if when.tzinfo is None:
            raise ToolError("invalid", "`before` needs a UTC offset.", field="before",
                            hint="Add +00:00 (or Z) to the time.")
    messages, more = message_page(organization=ctx.organization, contact=person, conversation=conversation,
                                  before=when, limit=limit)
    read = {conversation.pk} if conversation is not None else {m.conversation_id for m in messages}
    _per, synced_at = _synced(ctx, sorted(read))
    return {"messages": [message_out(m) for m in messages], "has_more": more,
            "next_before": messages[0].created_at.isoformat() if more and messages else None,
            "synced_at": _iso(synced_at)}


def mark_conversation_read(ctx: ToolContext, *, contact: str | None = None,
                           conversation_id: int | None = None) -> dict[str, Any]:
    from channels_app.conversations import conversation_read
    from channels_app.errors import ChannelUnavailable
    from crm.models import Conversation

    person, conversation = _who(ctx, contact, conversation_id)
    targets = [conversation] if conversation else list(
        Conversation.objects.for_org(ctx.organization).filter(contact=person, unread_count__gt=0))
    if ctx.dry_run:
        ctx.outcome = "dry_run"
        return {"status": "dry_run", "conversations": [c.pk for c in targets]}
    done = []
    seen_remote: set[str] = set()
    for target in targets:
        try:
            if target.provider_conversation_id in seen_remote:  # GHL's one conversation: read once
                from crm.services.conversations import conversation_mark_read

                conversation_mark_read(conversation=target)
            else:
                conversation_read(conversation=target)
                seen_remote.add(target.provider_conversation_id)
        except ChannelUnavailable as exc:
            raise ToolError("ghl_unavailable", f"{exc.message} Nothing was marked read.", retry_after=30,
                            hint="Retry in a minute.")
        except ChannelError as exc:
            raise refusal_error(exc)
        done.append(target.pk)
    ctx.outcome = "read"
    return {"status": "read", "conversations": done}


SYNCED_AT = {"type": ["string", "null"],
             "description": "The last time the mirror is known to have agreed with GoHighLevel about this: the "
                            "newest change of a message GHL has, or the last full check of the messages against "
                            "GHL, whichever is later (null: never). New messages arrive within seconds."}
CONVERSATION_ID = {"type": "integer", "minimum": 1, "description": "A conversation_id from list_conversations."}
registry.register(Tool(
    name="list_conversations", family="messaging", title="List conversations",
    description="The organization's conversations, newest activity first, each with its last message and unread "
                "count. Filter by `contact` (a name, email, phone or id) and `unread_only` to find who is "
                "waiting for an answer. Read from the local mirror: `synced_at` says how fresh it is. Errors: "
                "`not_found`/`ambiguous` for `contact`.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        "contact": CONTACT_REF, "unread_only": {"type": "boolean", "default": False},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}},
    output_schema={"type": "object", "properties": {"conversations": {"type": "array", "items": {
        "type": "object", "properties": {"synced_at": SYNCED_AT}}}, "count": {"type": "integer"},
        "synced_at": SYNCED_AT}},
    fn=list_conversations,
))
registry.register(Tool(
    name="get_messages", family="messaging", title="Read messages",
    description="A contact's messages (all channels) or one conversation's, oldest first: direction, channel, "
                "kind (message/call/voicemail), delivery status, time, sender (contact, agent, user = a person, "
                "workflow). Page back with `before` = `next_before`. Read from the local mirror: `synced_at` says "
                "how fresh it is. Errors: `invalid` when neither `contact` "
                "nor `conversation_id` is given, `not_found`/`ambiguous`.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        "contact": CONTACT_REF, "conversation_id": CONVERSATION_ID,
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "before": {"type": "string", "maxLength": 40, "description": "ISO date-time: only messages before it."}}},
    output_schema={"type": "object", "properties": {"messages": {"type": "array"}, "has_more": {"type": "boolean"},
                                                    "next_before": {"type": ["string", "null"]},
                                                    "synced_at": SYNCED_AT}},
    fn=get_messages,
))
registry.register(Tool(
    name="mark_conversation_read", family="messaging", title="Mark a conversation read", writes=True,
    description="Mark a contact's conversations (or one, by `conversation_id`) read, here and in GoHighLevel "
                "(GHL keeps one conversation per contact, so it reads all of their channels there). Use after "
                "handling what they wrote. Errors: `ghl_unavailable` (nothing was marked: retry), "
                "`not_found`/`ambiguous`.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        "contact": CONTACT_REF, "conversation_id": CONVERSATION_ID}},
    output_schema={"type": "object", "properties": {"status": {"type": "string"},
                                                    "conversations": {"type": "array"}}},
    fn=mark_conversation_read,
))
