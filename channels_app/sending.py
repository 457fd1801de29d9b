"""Sending a message is a command, not a mirror sync.

`message_send` checks consent and the contact's address before anything leaves, routes the channel to a
provider, writes the `Message` row first (pending, with the caller's idempotency key and a hash of the
request), then `message_dispatch` hands it to the provider exactly once:

* the row is claimed (pending → queued, `send_started_at`) under its row lock, so a concurrent retry of the
  request or of the worker sees it in flight and leaves it alone;
* a claim older than `SEND_LEASE` whose answer never came back (the process died, or the request timed out
  after it was sent) first asks the provider whether the message went out (`find_sent`); only if not is it
  sent again;
* a provider that answered "not now" (429/503, connection refused) sent nothing: the row goes back to pending
  and a retry is queued.
The provider's message id is stored (unique per organization and provider), which is how its webhook echo of
this send is recognised instead of recorded twice.
"""
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.message_status import status_may_move
from crm.models import Contact, Message
from crm.services.conversations import conversation_get_or_create, message_record

from .errors import ChannelError, ChannelUnavailable, SendRefused, refusal
from .providers.base import Binding, FileAttachment, SendResult
from .providers.registry import registry
from .router import channel_route

logger = logging.getLogger(__name__)

SEND_LEASE = timedelta(seconds=60)  # a claim older than this, without an answer, is presumed dead
RETRY_SECONDS = 15
CHANNELS = ("sms", "email", "whatsapp")


@dataclass
class SendCommand:
    channel: str
    text: str = ""
    subject: str = ""
    html: str = ""
    attachment_urls: list[str] = field(default_factory=list)
    files: list[FileAttachment] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    from_name: str = ""
    from_address: str = ""

    def fingerprint(self, contact: Contact) -> str:
        body = {"contact": contact.pk, "channel": self.channel, "text": self.text, "subject": self.subject,
                "html": self.html, "urls": self.attachment_urls, "cc": self.cc, "bcc": self.bcc,
                "from": [self.from_name, self.from_address],
                "files": [[f.name, hashlib.sha256(f.data).hexdigest()] for f in self.files]}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class SendOutcome:
    message: Message | None
    channel: str
    status: str
    replayed: bool = False
    dry_run: bool = False
    provider_key: str = ""
    thread_reply: bool = False
    error: ChannelError | None = None  # a send that was written but not (yet) carried: why


class IdempotencyConflict(ChannelError):
    pass


def default_channel(contact: Contact) -> str:
    """The channel of the contact's last inbound message, else SMS when they have a phone, else email."""
    last = (Message.objects.for_org(contact.organization_id)
            .filter(conversation__contact=contact, direction=Message.Direction.INBOUND, channel__in=CHANNELS)
            .order_by("-created_at", "-id").values_list("channel", flat=True).first())
    if last:
        return last
    return "sms" if contact.phone or not contact.email else "email"


def consent_check(contact: Contact, channel: str) -> None:
    """Refuse, naming the channel, before any request: DND (global or for the channel), then the address."""
    if not contact.is_reachable_on(channel):
        scope = "every channel" if contact.dnd_all else channel
        raise refusal("dnd", channel, f"({contact} asked not to be contacted on {scope}.) Nothing was sent.",
                      hint="Do not contact them on this channel; a person may change their DND in GHL.")
    if channel in ("sms", "whatsapp") and not contact.phone:
        raise refusal("missing_phone", channel, hint="Add their phone with update_contact, or use email.")
    if channel == "email" and not contact.email:
        raise refusal("missing_email", channel, hint="Add their email with update_contact, or use SMS.")


def _email_thread(contact: Contact) -> Message | None:
    """The contact's latest email that carries the provider's ids (to reply into its thread)."""
    return (Message.objects.for_org(contact.organization_id)
            .filter(conversation__contact=contact, channel="email").exclude(provider_message_id="")
            .order_by("-created_at", "-id").first())


def _capabilities_check(provider, command: SendCommand) -> None:
    caps = provider.capabilities[command.channel]
    asked = {"subject": bool(command.subject), "html": bool(command.html), "cc_bcc": bool(command.cc or command.bcc),
             "attachments": bool(command.attachment_urls or command.files)}
    for name, wanted in asked.items():
        if wanted and not getattr(caps, name):
            raise refusal("unsupported", command.channel, f"It carries no {name.replace('_', '/')}.",
                          hint=f"Leave out `{name}` or send by email.")
    if not (command.text or command.html or command.attachment_urls or command.files):
        raise SendRefused("invalid", "The message is empty: give it text (or html for email).",
                          channel=command.channel, hint="Add `text`.")


def message_send(*, contact: Contact, command: SendCommand, idempotency_key: str = "",
                 sender_type: str = Message.SenderType.AGENT, sender_ref: str = "",
                 dry_run: bool = False) -> SendOutcome:
    """Send `command` to `contact` (see the module docstring). Raises `SendRefused` (nothing written or sent),
    `IdempotencyConflict`; a provider outage after the row is written comes back as `outcome.error`."""
    request_hash = command.fingerprint(contact)
    if idempotency_key:
        existing = Message.objects.for_org(contact.organization_id).filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, request_hash)
    if command.channel not in CHANNELS:
        raise SendRefused("unsupported", f"“{command.channel}” is not a channel we send on.",
                          channel=command.channel, hint="Use sms, email or whatsapp.")
    consent_check(contact, command.channel)
    provider, binding = channel_route(organization_id=contact.organization_id, channel=command.channel)
    thread = _email_thread(contact) if command.channel == "email" and not command.subject else None
    if command.channel == "email" and not command.subject:
        if thread is None:
            raise SendRefused("invalid", "A new email needs a subject.", channel="email",
                              hint="Add `subject` (without one, an email replies into the contact's last thread, "
                                   "and they have none).")
        command.subject = thread.subject if thread.subject.lower().startswith("re:") else f"Re: {thread.subject}"
    _capabilities_check(provider, command)
    if dry_run:
        return SendOutcome(message=None, channel=command.channel, status="dry_run", dry_run=True,
                           provider_key=binding.provider_key, thread_reply=thread is not None)
    urls = list(command.attachment_urls)
    if command.files:
        urls += provider.upload(binding, contact=contact, files=command.files)
    meta = {k: v for k, v in {"cc": command.cc, "bcc": command.bcc, "from_name": command.from_name,
                              "from_address": command.from_address,
                              "reply_to_message_id": thread.pk if thread else None}.items() if v}
    try:
        with transaction.atomic():
            message = message_record(
                contact=contact, channel=command.channel, direction=Message.Direction.OUTBOUND, body=command.text,
                subject=command.subject, status=Message.Status.PENDING, html=command.html, attachments=urls,
                meta=meta, idempotency_key=idempotency_key, request_hash=request_hash, sender_type=sender_type,
                sender_ref=str(sender_ref or ""), provider=binding.provider_key,
                provider_thread_id=thread.provider_thread_id if thread else "")
    except IntegrityError:
        # The same key written by a concurrent request an instant ago: answer as its retry.
        existing = Message.objects.for_org(contact.organization_id).get(idempotency_key=idempotency_key)
        return _replay(existing, request_hash)
    return _dispatch_outcome(message, thread_reply=thread is not None)


def _replay(message: Message, request_hash: str) -> SendOutcome:
    if message.request_hash != request_hash:
        raise IdempotencyConflict("conflict", "This idempotency_key was already used for a different message.",
                                  channel=message.channel, hint="Use a new idempotency_key for a new message.")
    if message.status in (Message.Status.PENDING, Message.Status.QUEUED):
        return _dispatch_outcome(message, replayed=True)
    return SendOutcome(message=message, channel=message.channel, status=message.status, replayed=True,
                       provider_key=message.provider)


def _dispatch_outcome(message: Message, *, replayed: bool = False, thread_reply: bool = False) -> SendOutcome:
    error = None
    try:
        message = message_dispatch(message_id=message.pk)
    except SendRefused as exc:
        message.refresh_from_db()
        raise exc
    except ChannelUnavailable as exc:
        error = exc
        message.refresh_from_db()
    return SendOutcome(message=message, channel=message.channel, status=message.status, replayed=replayed,
                       provider_key=message.provider, thread_reply=thread_reply, error=error)


def message_provider_binding(message: Message) -> tuple:
    """``(provider, binding)`` the message goes (or went) out through: its own provider, with the route's binding
    when the route still names that provider. `SendRefused` when the provider is not installed."""
    provider = registry.get(message.provider)
    if provider is None:
        raise refusal("no_provider", message.channel, f"(provider “{message.provider}” is not installed)")
    _, binding = channel_route(organization_id=message.organization_id, channel=message.channel)
    if binding.provider_key != message.provider:
        binding = Binding(organization_id=message.organization_id, channel=message.channel,
                          provider_key=message.provider, account_id="")
    return provider, binding


def message_dispatch(*, message_id: int) -> Message:
    """Hand a pending message to its provider once (see the module docstring). Returns the row as it ends;
    raises `SendRefused` (the row is failed) or `ChannelUnavailable` (a retry is queued)."""
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().select_related("conversation__contact").get(pk=message_id)
        contact = message.conversation.contact
        stale = message.status == Message.Status.QUEUED and (
            message.send_started_at is None or message.send_started_at < now - SEND_LEASE)
        if message.status != Message.Status.PENDING and not stale:
            return message  # sent, final, or in flight in another process
        provider, binding = message_provider_binding(message)
        if stale:
            found = provider.find_sent(binding, message, contact=contact)
            if found is not None:
                logger.info("channels.send.found-after-unknown-outcome",
                            extra={"message_id": message.pk, "provider": message.provider})
                _store_result(message, found)
                return message
        message.status, message.send_started_at = Message.Status.QUEUED, now
        message.send_attempts += 1
        message.save(update_fields=["status", "send_started_at", "send_attempts", "updated_at"])
    try:
        result = provider.send(binding, message, contact=contact)
    except SendRefused as exc:
        Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, error_code=exc.code[:32],
                                                     error=exc.message[:2000], status_changed_at=timezone.now())
        logger.info("channels.send.refused", extra={"message_id": message.pk, "code": exc.code,
                                                    "channel": message.channel})
        raise
    except ChannelUnavailable as exc:
        if not exc.maybe_sent:
            Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(status=Message.Status.PENDING)
        logger.warning("channels.send.unavailable", extra={"message_id": message.pk, "code": exc.code,
                                                           "maybe_sent": exc.maybe_sent})
        _queue_retry(message.pk, (SEND_LEASE.total_seconds() + 5) if exc.maybe_sent
                     else max(exc.retry_after or 0, RETRY_SECONDS))
        raise
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        _store_result(message, result)
    return message


def _store_result(message: Message, result: SendResult) -> None:
    message.provider_message_id = result.provider_message_id
    if result.provider_thread_id:
        message.provider_thread_id = result.provider_thread_id
    if result.provider_email_message_id:
        message.provider_email_message_id = result.provider_email_message_id
    now = timezone.now()
    fields = ["provider_message_id", "provider_thread_id", "provider_email_message_id", "updated_at"]
    # The provider's first word is at least "sent" (it has it); a webhook may already have moved it further.
    for status in dict.fromkeys([Message.Status.SENT, result.status]):
        if status_may_move(message.status, status):
            message.status, message.status_changed_at = status, now
            fields += ["status", "status_changed_at"]
    if message.sent_at is None:
        message.sent_at = now
        fields.append("sent_at")
    if result.provider_conversation_id and not message.conversation.provider_conversation_id:
        conversation_get_or_create(contact=message.conversation.contact, channel=message.channel,
                                   provider=message.provider,
                                   provider_conversation_id=result.provider_conversation_id)
    message.save(update_fields=list(dict.fromkeys(fields)))


def _queue_retry(message_id: int, countdown: float) -> None:
    from .tasks import message_dispatch_task

    def publish():
        try:
            message_dispatch_task.apply_async((message_id,), countdown=countdown)
        except Exception as exc:  # noqa: BLE001 - the minute sweep retries it
            logger.warning("channels.send.retry-not-queued", extra={"message_id": message_id, "error": repr(exc)})

    transaction.on_commit(publish)


def messages_dispatch_stuck(*, older_than: timedelta = SEND_LEASE, limit: int = 200) -> int:
    """The sweep's safety net: pending messages whose retry message was lost, and dead claims."""
    cutoff = timezone.now() - older_than
    ids = list(Message.objects.filter(direction=Message.Direction.OUTBOUND,
                                      status__in=[Message.Status.PENDING, Message.Status.QUEUED],
                                      created_at__lt=cutoff, created_at__gt=timezone.now() - timedelta(days=2))
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    for message_id in ids:
        try:
            message_dispatch(message_id=message_id)
        except ChannelError:
            pass  # logged by message_dispatch; the row says what happened
    return len(ids)
