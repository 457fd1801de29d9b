"""GHL's `ChannelProvider`: SMS, Email and WhatsApp through GHL's conversations API (REFERENCE.md §d), and
GHL's message webhooks read as provider-neutral events. Registered into `channels_app` from `ready()`.

GHL's refusals become the channel layer's own (`channels_app.errors`), so a DND refusal reads the same whether
we caught it first or GHL did.
"""
import logging
from datetime import timedelta

from channels_app.errors import ChannelUnavailable, SendRefused, refusal
from channels_app.providers.base import (
    Binding,
    Capabilities,
    ChannelProvider,
    FileAttachment,
    InboundEvent,
    SendResult,
    StatusUpdate,
)
from crm.models import Contact, Message
from crm.selectors.external_ids import external_id_for_object

from ..client.exceptions import (
    GhlApiError,
    GhlAuthError,
    GhlNetworkError,
    GhlNotFound,
    GhlRateLimited,
    GhlServerError,
    GhlValidationError,
)
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..timestamps import parse_ghl_time

logger = logging.getLogger(__name__)

PROVIDER = "ghl"
SEND_TYPES = {"sms": "SMS", "email": "Email", "whatsapp": "WhatsApp"}
# Webhook `messageType` (short names) and message-list `messageType` (TYPE_*) -> (channel, kind)
MESSAGE_TYPES = {
    "SMS": ("sms", "message"), "TYPE_SMS": ("sms", "message"), "RCS": ("sms", "message"),
    "Email": ("email", "message"), "TYPE_EMAIL": ("email", "message"),
    "WhatsApp": ("whatsapp", "message"), "TYPE_WHATSAPP": ("whatsapp", "message"),
    "CALL": ("call", "call"), "Call": ("call", "call"), "TYPE_CALL": ("call", "call"), "IVR_Call": ("call", "call"),
    "TYPE_IVR_CALL": ("call", "call"), "VoiceMail": ("call", "voicemail"),
    "TYPE_CAMPAIGN_VOICEMAIL": ("call", "voicemail"), "Campaign_VoiceMail": ("call", "voicemail"),
}
# GHL's message statuses -> ours (None: no news beyond "GHL has it")
STATUSES = {"pending": None, "queued": None, "scheduled": None, "connected": None, "sent": "sent",
            "delivered": "delivered", "read": "read", "opened": "read", "clicked": "read", "failed": "failed",
            "undelivered": "undelivered", "opt_out": "undelivered"}
# LCEmailStats `webhookPayload.event` -> ours
EMAIL_EVENTS = {"accepted": "sent", "delivered": "delivered", "opened": "read", "clicked": "read",
                "failed": "failed", "rejected": "failed", "bounced": "undelivered", "complained": None}
SENDER_TYPES = {"workflow": "workflow", "bulk_actions": "workflow", "campaign": "workflow", "app": "user"}
# GHL's words for its refusals (400 message) -> our refusal code
REFUSAL_MARKERS = (("dnd", "dnd"), ("missing phone", "missing_phone"), ("missing email", "missing_email"),
                   ("24-hour", "whatsapp_window"), ("24 hour", "whatsapp_window"), ("outside the", "whatsapp_window"))
FIND_WINDOW = timedelta(minutes=2)
SMS = Capabilities(attachments=True, media=True)


class GhlChannelProvider(ChannelProvider):
    key = PROVIDER
    capabilities = {
        "sms": SMS,
        "email": Capabilities(subject=True, html=True, attachments=True, cc_bcc=True, threads=True),
        "whatsapp": Capabilities(attachments=True, media=True, templates=True),
    }

    # -- bindings and credentials ---------------------------------------------------------------------------------
    def default_binding(self, *, organization_id: int, channel: str) -> Binding | None:
        connection = _active_connections(organization_id).first()
        if connection is None:
            return None
        return Binding(organization_id=organization_id, channel=channel, provider_key=self.key,
                       account_id=connection.location_id)

    def _connection(self, binding: Binding) -> GhlConnection:
        scope = _active_connections(binding.organization_id)
        connection = (scope.filter(location_id=binding.account_id) if binding.account_id else scope).first()
        if connection is None:
            raise refusal("no_provider", binding.channel, "(GoHighLevel is not connected)",
                          hint="Connect GoHighLevel on the settings page.")
        return connection

    def _client(self, binding: Binding):
        try:
            return GhlInstallation(self._connection(binding)).get_client()
        except ConnectionInactive as exc:
            raise refusal("no_provider", binding.channel, "(the GoHighLevel connection is not active)") from exc

    def _contact_id(self, binding: Binding, contact: Contact, connection: GhlConnection) -> str:
        ghl_id = external_id_for_object(obj=contact, provider=PROVIDER, account_id=connection.location_id)
        if not ghl_id:
            # A contact created here moments ago is pushed to GHL by the outbox: wait for it, do not fail.
            raise ChannelUnavailable("not_linked", f"{contact} is not in GoHighLevel yet.", channel=binding.channel,
                                     hint="Retry in a few seconds, once the contact has been pushed.")
        return ghl_id

    # -- sending --------------------------------------------------------------------------------------------------
    def upload(self, binding: Binding, *, contact: Contact, files: list[FileAttachment]) -> list[str]:
        connection = self._connection(binding)
        ghl_contact = self._contact_id(binding, contact, connection)
        with self._client(binding) as client:
            with _mapped(binding.channel, posted=True):
                conversation_id = _conversation_id(client, ghl_contact, create=True)
                return client.conversations.upload(conversation_id=conversation_id, contact_id=ghl_contact,
                                                   files=[(f.name, f.content_type, f.data) for f in files])

    def send(self, binding: Binding, message: Message, *, contact: Contact) -> SendResult:
        connection = self._connection(binding)
        body = {"type": SEND_TYPES[message.channel], "contactId": self._contact_id(binding, contact, connection)}
        if message.body:
            body["message"] = message.body
        if message.attachments:
            body["attachments"] = list(message.attachments)
        if message.channel == "email":
            meta = message.meta or {}
            body.update({k: v for k, v in {
                "subject": message.subject, "html": message.html or None, "emailCc": meta.get("cc"),
                "emailBcc": meta.get("bcc"), "emailFrom": _from(meta), "threadId": message.provider_thread_id or None,
            }.items() if v})
            reply_to = _reply_to(message)
            if reply_to is not None:
                body["replyMessageId"] = reply_to.provider_message_id
                body["threadId"] = reply_to.provider_thread_id or reply_to.provider_message_id
        with self._client(binding) as client, _mapped(message.channel, posted=True):
            answer = client.conversations.send_message(body)
        if not answer.get("messageId"):
            raise ChannelUnavailable("invalid_answer", "GoHighLevel answered without a message id.",
                                     channel=message.channel, maybe_sent=True)
        return SendResult(provider_message_id=answer["messageId"],
                          status=STATUSES.get(answer.get("status") or "") or Message.Status.SENT,
                          provider_conversation_id=answer.get("conversationId") or "",
                          provider_email_message_id=answer.get("emailMessageId") or "",
                          provider_thread_id=body.get("threadId") or (answer["messageId"]
                                                                      if message.channel == "email" else ""))

    def find_sent(self, binding: Binding, message: Message, *, contact: Contact) -> SendResult | None:
        connection = self._connection(binding)
        ghl_contact = external_id_for_object(obj=contact, provider=PROVIDER, account_id=connection.location_id)
        if not ghl_contact:
            return None
        since = (message.send_started_at or message.created_at) - FIND_WINDOW
        with self._client(binding) as client, _mapped(message.channel, posted=False):
            conversation_id = _conversation_id(client, ghl_contact, create=False)
            if not conversation_id:
                return None
            page = client.conversations.list_messages(conversation_id, limit=50)
        for item in page["messages"]:
            channel, _kind = MESSAGE_TYPES.get(str(item.get("messageType")), ("other", "message"))
            at = parse_ghl_time(item.get("dateAdded"))
            if (item.get("direction") == "outbound" and channel == message.channel and at and at >= since
                    and _same_text(item, message) and not _recorded(message.organization_id, item.get("id"))):
                return SendResult(provider_message_id=item["id"], status=STATUSES.get(item.get("status") or "")
                                  or Message.Status.SENT, provider_conversation_id=conversation_id)
        return None

    def fetch_status(self, binding: Binding, message: Message) -> StatusUpdate | None:
        with self._client(binding) as client, _mapped(message.channel, posted=False):
            try:
                item = client.conversations.get_message(message.provider_message_id)
            except GhlNotFound:
                return None
        status = STATUSES.get(str(item.get("status") or ""))
        error = (item.get("meta") or {}).get("error") or {}
        return StatusUpdate(provider_message_id=message.provider_message_id, status=status or "",
                            error=str(error.get("message") or "") if isinstance(error, dict) else str(error),
                            error_code=str(error.get("code") or "") if isinstance(error, dict) else "")

    def mark_read(self, binding: Binding, *, provider_conversation_id: str) -> None:
        # GHL keeps one conversation per contact, so this reads every channel of it there.
        with self._client(binding) as client, _mapped(binding.channel, posted=False):
            client.conversations.update(provider_conversation_id, unread_count=0)

    # -- reading GHL's events -------------------------------------------------------------------------------------
    def parse_inbound(self, payload: dict) -> InboundEvent | None:
        message_id, contact_id = payload.get("messageId"), payload.get("contactId")
        if not isinstance(message_id, str) or not message_id or not isinstance(contact_id, str) or not contact_id:
            return None
        channel, kind = MESSAGE_TYPES.get(str(payload.get("messageType") or ""), ("other", "message"))
        direction = "outbound" if payload.get("direction") == "outbound" or payload.get("type") == "OutboundMessage" \
            else "inbound"
        if payload.get("type") == "InboundMessage":
            direction = "inbound"
        # GHL: a call that reached voicemail inbound is a voicemail; an outbound one is a call (callStatus says so).
        if kind == "call" and direction == "inbound" and "voicemail" in (payload.get("status"),
                                                                         payload.get("callStatus")):
            kind = "voicemail"
        html = ""
        body = _text(payload.get("body"))
        if channel == "email" and str(payload.get("contentType", "")).startswith("text/html"):
            html = body
        meta = {k: payload[k] for k in ("callDuration", "callStatus", "from", "to", "cc", "bcc", "provider")
                if payload.get(k) not in (None, "", [])}
        source = str(payload.get("source") or "")
        user_id = payload.get("userId") if isinstance(payload.get("userId"), str) else ""
        if direction == "outbound":
            sender_type = SENDER_TYPES.get(source) or ("user" if user_id else "system")
            status = STATUSES.get(str(payload.get("status") or "")) or ""
        else:
            sender_type, status = "contact", ""
        return InboundEvent(
            provider_message_id=message_id, contact_external_id=contact_id, channel=channel, direction=direction,
            body=body, subject=_text(payload.get("subject"))[:255], html=html, kind=kind,
            attachments=[str(a) for a in payload.get("attachments") or [] if isinstance(a, str)], meta=meta,
            status=status, sender_type=sender_type, sender_ref=user_id or (f"source:{source}" if source else ""),
            provider_conversation_id=_text(payload.get("conversationId")),
            provider_thread_id=_text(payload.get("threadId")),
            provider_email_message_id=_text(payload.get("emailMessageId")),
            created_at=parse_ghl_time(payload.get("dateAdded")),
        )

    def parse_status(self, payload: dict) -> StatusUpdate | None:
        if payload.get("type") == "LCEmailStats":
            inner = payload.get("webhookPayload") if isinstance(payload.get("webhookPayload"), dict) else {}
            status = EMAIL_EVENTS.get(str(inner.get("event") or ""))
            email_id = _email_message_id(inner)
            if not status or not email_id:
                return None
            delivery = inner.get("delivery-status") if isinstance(inner.get("delivery-status"), dict) else {}
            at = inner.get("timestamp")
            return StatusUpdate(provider_email_message_id=email_id, status=status,
                                error=_text(delivery.get("message") or delivery.get("description")),
                                error_code=_text(delivery.get("code")),
                                at=parse_ghl_time(at))
        status = STATUSES.get(str(payload.get("status") or ""))
        if not status or not isinstance(payload.get("messageId"), str):
            return None
        return StatusUpdate(provider_message_id=payload["messageId"], status=status)


# -- helpers --------------------------------------------------------------------------------------------------------
def _active_connections(organization_id: int):
    return GhlConnection.objects.for_org(organization_id).filter(
        status=GhlConnection.Status.ACTIVE, token_level=GhlConnection.TokenLevel.LOCATION).exclude(
        location_id="").order_by("pk")


def _text(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _from(meta: dict) -> str | None:
    name, address = meta.get("from_name"), meta.get("from_address")
    if name and address:
        return f"{name} <{address}>"
    return address or None


def _reply_to(message: Message) -> Message | None:
    reply_id = (message.meta or {}).get("reply_to_message_id")
    if not reply_id:
        return None
    return Message.objects.for_org(message.organization_id).filter(pk=reply_id).exclude(provider_message_id="").first()


def _email_message_id(inner: dict) -> str:
    """LCEmailStats names the email by its Message-ID header, ``<emailMessageId@host>`` (the sandbox's form of
    GHL's undocumented link between the two)."""
    headers = (inner.get("message") or {}).get("headers") if isinstance(inner.get("message"), dict) else None
    raw = _text((headers or {}).get("message-id"))
    return raw.strip("<>").split("@", 1)[0] if raw else ""


def _same_text(item: dict, message: Message) -> bool:
    text = _text(item.get("body"))
    return text in (message.body, message.html) and bool(text)


def _recorded(organization_id: int, provider_message_id) -> bool:
    return Message.objects.for_org(organization_id).filter(provider=PROVIDER,
                                                           provider_message_id=provider_message_id).exists()


def _conversation_id(client, ghl_contact_id: str, *, create: bool) -> str:
    found = client.conversations.search(contact_id=ghl_contact_id, limit=1).get("conversations") or []
    if found:
        return found[0]["id"]
    if not create:
        return ""
    return client.conversations.create(ghl_contact_id)["id"]


class _mapped:
    """GHL's errors as the channel layer's: refusals (400/422), outages (429/5xx/network, `maybe_sent` when a
    POST may have been processed)."""

    def __init__(self, channel: str, *, posted: bool):
        self.channel, self.posted = channel, posted

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, GhlApiError | ConnectionInactive):
            return False
        if isinstance(exc, ConnectionInactive):
            raise refusal("no_provider", self.channel, "(the GoHighLevel connection is not active)") from exc
        if isinstance(exc, GhlValidationError):
            said = " ".join(exc.messages) if getattr(exc, "messages", None) else str(exc.message)
            lowered = said.lower()
            code = next((code for marker, code in REFUSAL_MARKERS if marker in lowered), "invalid")
            if code == "whatsapp_window" and self.channel != "whatsapp":
                code = "invalid"
            raise refusal(code, self.channel, f"GoHighLevel said: “{said}”") from exc
        if isinstance(exc, GhlAuthError):
            raise ChannelUnavailable("auth", "GoHighLevel refused our credentials; reconnect it on the settings "
                                     "page.", channel=self.channel) from exc
        if isinstance(exc, GhlNotFound):
            raise SendRefused("not_linked", "GoHighLevel does not know this contact (deleted there?).",
                              channel=self.channel) from exc
        not_processed = isinstance(exc, GhlRateLimited) or exc.status == 503 or (
            isinstance(exc, GhlNetworkError) and "ConnectionError" in str(exc.message))
        maybe = self.posted and not not_processed and isinstance(exc, GhlServerError | GhlNetworkError)
        raise ChannelUnavailable("ghl_unavailable", f"GoHighLevel did not answer ({type(exc).__name__}).",
                                 channel=self.channel, maybe_sent=maybe,
                                 retry_after=getattr(exc, "retry_after", None)) from exc
