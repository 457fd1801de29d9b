"""Messages a provider reports: the contact's inbound messages (which raise the "message received" event the
agents' triggers subscribe to), messages people or workflows sent from the provider's own app (recorded with
who sent them, and a "message sent" event), and the echo of our own sends (recognised, not recorded twice).
"""
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from crm import events
from crm.models import Contact, Message
from crm.services.contacts import contact_update
from crm.services.conversations import message_record_remote, message_status_apply

from .providers.base import InboundEvent

logger = logging.getLogger(__name__)

STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout"}
STOP_CHANNELS = ("sms", "whatsapp")
ECHO_WAIT = timedelta(seconds=60)  # how long a send in flight may still claim an unknown outbound event


class SendInFlight(Exception):
    """An outbound event arrived for a contact while our own send to them is waiting for the provider's answer:
    it is probably that send's echo. Retry shortly; the send will have stored its id by then."""


@dataclass(frozen=True)
class InboundResult:
    message: Message
    created: bool
    outcome: str  # received | sent_by_other | echo | duplicate


def _event_data(message: Message) -> dict:
    return {"channel": message.channel, "message_id": message.pk, "conversation_id": message.conversation_id,
            "body": message.body, "subject": message.subject, "kind": message.kind, "provider": message.provider,
            "direction": message.direction, "sender_type": message.sender_type, "sender_ref": message.sender_ref,
            "sent_at": message.created_at.isoformat()}


def _is_stop(text: str) -> bool:
    return text.strip().strip(".!").lower() in STOP_WORDS


def _send_in_flight(contact: Contact, event: InboundEvent) -> bool:
    return Message.objects.for_org(contact.organization_id).filter(
        conversation__contact=contact, direction=Message.Direction.OUTBOUND, channel=event.channel,
        status=Message.Status.QUEUED, provider_message_id="",
        send_started_at__gt=timezone.now() - ECHO_WAIT).exists()


def message_from_provider(*, contact: Contact, provider: str, event: InboundEvent) -> InboundResult:
    """Record `event` once (its provider id is unique); the event fires only when the row is new."""
    outbound = event.direction == Message.Direction.OUTBOUND
    with transaction.atomic():
        known = Message.objects.for_org(contact.organization_id).filter(
            provider=provider, provider_message_id=event.provider_message_id).first()
        if known is not None:
            if outbound and event.status:
                message_status_apply(message_id=known.pk, status=event.status, at=event.created_at)
            outcome = "echo" if outbound and known.sender_type == Message.SenderType.AGENT else "duplicate"
            return InboundResult(message=known, created=False, outcome=outcome)
        if outbound and _send_in_flight(contact, event):
            raise SendInFlight(event.provider_message_id)
        status = (event.status or Message.Status.SENT) if outbound else Message.Status.RECEIVED
        message, created = message_record_remote(
            contact=contact, channel=event.channel, direction=event.direction, provider=provider,
            provider_message_id=event.provider_message_id, provider_conversation_id=event.provider_conversation_id,
            created_at=event.created_at, kind=event.kind, body=event.body, subject=event.subject[:255],
            html=event.html, attachments=event.attachments, meta=event.meta, status=status,
            sender_type=event.sender_type or (Message.SenderType.SYSTEM if outbound else Message.SenderType.CONTACT),
            sender_ref=event.sender_ref, provider_thread_id=event.provider_thread_id,
            provider_email_message_id=event.provider_email_message_id,
            sent_at=event.created_at if outbound else None)
        if not created:
            return InboundResult(message=message, created=False, outcome="duplicate")
        if outbound:
            events.emit(events.MESSAGE_SENT, organization_id=contact.organization_id, contact_id=contact.pk,
                        data=_event_data(message))
            return InboundResult(message=message, created=True, outcome="sent_by_other")
        if event.kind == Message.Kind.MESSAGE and event.channel in STOP_CHANNELS and _is_stop(event.body):
            field = f"dnd_{event.channel}"
            if not getattr(contact, field):
                contact_update(contact=contact, **{field: True})
                logger.info("channels.inbound.stop", extra={"contact_id": contact.pk, "channel": event.channel})
        if event.kind == Message.Kind.MESSAGE:
            events.emit(events.MESSAGE_RECEIVED, organization_id=contact.organization_id, contact_id=contact.pk,
                        data=_event_data(message))
        return InboundResult(message=message, created=True, outcome="received")
