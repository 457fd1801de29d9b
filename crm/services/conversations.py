"""Conversations and messages: the writes every channel (and every provider's webhooks) goes through.

One conversation per contact and channel family (a unique constraint; a racing creator reads the winner's row).
A message from a provider is keyed by its provider id (unique per organization and provider), so a webhook
delivered twice, or our own send coming back as a webhook, finds the row instead of adding one.
"""
import logging
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..message_status import status_may_move
from ..models import Contact, Conversation, Message, channel_family

logger = logging.getLogger(__name__)


def conversation_get_or_create(*, contact: Contact, channel: str, provider: str = "",
                               provider_conversation_id: str = "") -> Conversation:
    """The contact's conversation for the channel's family, created if missing (safe under concurrency)."""
    family = channel_family(channel)
    scope = Conversation.objects.for_org(contact.organization_id).filter(contact=contact, channel_family=family)
    conversation = scope.first()
    if conversation is None:
        try:
            with transaction.atomic():
                conversation = Conversation.objects.create(
                    organization_id=contact.organization_id, contact=contact, channel_family=family,
                    provider=provider, provider_conversation_id=provider_conversation_id)
        except IntegrityError:
            # Another writer created it between our read and insert: the constraint decided, use its row.
            conversation = scope.get()
    if provider_conversation_id and conversation.provider_conversation_id != provider_conversation_id:
        conversation.provider, conversation.provider_conversation_id = provider, provider_conversation_id
        conversation.save(update_fields=["provider", "provider_conversation_id", "updated_at"])
    return conversation


def conversation_for_contact(*, contact: Contact, channel: str = "sms") -> Conversation:
    return conversation_get_or_create(contact=contact, channel=channel)


def _touch(conversation: Conversation, *, at: datetime, inbound: bool) -> None:
    updates: dict[str, Any] = {"updated_at": timezone.now()}
    if inbound:
        updates["unread_count"] = F("unread_count") + 1
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    # Never move the last-message date back (a reconciled or late webhook can be older than what we have).
    Conversation.objects.filter(pk=conversation.pk).exclude(last_message_at__gte=at).update(last_message_at=at)


@transaction.atomic
def message_record(
    *,
    contact: Contact,
    channel: str,
    direction: str,
    body: str,
    subject: str = "",
    status: str = Message.Status.PENDING,
    provider_message_id: str = "",
    **fields: Any,
) -> Message:
    """Record a message on the contact's conversation (a local message: no provider id conflict possible)."""
    conversation = conversation_get_or_create(contact=contact, channel=channel)
    now = fields.pop("created_at", None) or timezone.now()
    message = Message.objects.create(
        organization_id=contact.organization_id, conversation=conversation, channel=channel, direction=direction,
        body=body, subject=subject, status=status, provider_message_id=provider_message_id, created_at=now,
        status_changed_at=now, **fields,
    )
    _touch(conversation, at=now, inbound=direction == Message.Direction.INBOUND)
    return message


def message_record_remote(
    *, contact: Contact, channel: str, direction: str, provider: str, provider_message_id: str,
    provider_conversation_id: str = "", created_at: datetime | None = None, **fields: Any,
) -> tuple[Message, bool]:
    """Record a message the provider reports; ``(message, created)``. An id already recorded is not recorded
    again: the existing row comes back with ``created=False`` (duplicate delivery, or the echo of our send)."""
    if not provider_message_id:
        raise ValueError("a provider message needs its provider id")
    existing = Message.objects.for_org(contact.organization_id).filter(
        provider=provider, provider_message_id=provider_message_id).first()
    if existing is not None:
        return existing, False
    at = created_at or timezone.now()
    try:
        with transaction.atomic():
            conversation = conversation_get_or_create(contact=contact, channel=channel, provider=provider,
                                                      provider_conversation_id=provider_conversation_id)
            message = Message.objects.create(
                organization_id=contact.organization_id, conversation=conversation, channel=channel,
                direction=direction, provider=provider, provider_message_id=provider_message_id, created_at=at,
                status_changed_at=timezone.now(), **fields)
            _touch(conversation, at=at, inbound=direction == Message.Direction.INBOUND)
    except IntegrityError:
        # The same id recorded by a concurrent worker (GHL delivered it twice at once): theirs stands.
        logger.info("crm.message.duplicate-provider-id", extra={
            "organization_id": contact.organization_id, "provider": provider,
            "provider_message_id": provider_message_id})
        return Message.objects.for_org(contact.organization_id).get(
            provider=provider, provider_message_id=provider_message_id), False
    return message, True


def message_status_apply(*, message_id: int, status: str, error: str = "", error_code: str = "",
                         at: datetime | None = None) -> bool:
    """Move an outbound message's delivery status forwards (`crm.message_status`); False when refused
    (older or equal news, or a final status already reached). Locks the row so racing events serialize."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or not status_may_move(message.status, status):
            return False
        message.status = status
        message.status_changed_at = at or timezone.now()
        fields = ["status", "status_changed_at", "updated_at"]
        if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
            message.error, message.error_code = error[:2000], error_code[:32]
            fields += ["error", "error_code"]
        if status == Message.Status.SENT and message.sent_at is None:
            message.sent_at = message.status_changed_at
            fields.append("sent_at")
        message.save(update_fields=fields)
    return True


def conversation_mark_read(*, conversation: Conversation) -> Conversation:
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0, updated_at=timezone.now())
    conversation.refresh_from_db()
    return conversation


def conversations_unread_apply(*, organization_id: int, provider: str, provider_conversation_id: str,
                               unread_count: int, at: datetime | None) -> int:
    """The provider's unread count of its conversation, spread over ours (it may span several families):
    0 reads them all; otherwise the most recently active one holds what the others do not. Updates older
    than the newest applied are dropped. Returns how many conversations changed."""
    with transaction.atomic():
        rows = list(Conversation.objects.for_org(organization_id).select_for_update()
                    .filter(provider=provider, provider_conversation_id=provider_conversation_id)
                    .order_by(F("last_message_at").desc(nulls_last=True), "-id"))
        if not rows:
            return 0
        if at is not None and any(r.unread_updated_at and r.unread_updated_at >= at for r in rows):
            return 0
        changed = 0
        rest = sum(r.unread_count for r in rows[1:]) if unread_count else 0
        for index, row in enumerate(rows):
            want = (max(0, unread_count - rest) if index == 0 else row.unread_count) if unread_count else 0
            if row.unread_count != want or at is not None:
                row.unread_count, row.unread_updated_at = want, at or row.unread_updated_at
                row.save(update_fields=["unread_count", "unread_updated_at", "updated_at"])
                changed += 1
        return changed
