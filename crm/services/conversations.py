from django.db import transaction
from django.utils import timezone

from ..models import Contact, Conversation, Message


def conversation_for_contact(*, contact: Contact) -> Conversation:
    """One conversation per contact, as GHL keeps it."""
    conversation = Conversation.objects.for_org(contact.organization_id).filter(contact=contact).first()
    if conversation is None:
        conversation = Conversation.objects.create(organization_id=contact.organization_id, contact=contact)
    return conversation


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
) -> Message:
    conversation = conversation_for_contact(contact=contact)
    now = timezone.now()
    message = Message.objects.create(
        organization_id=contact.organization_id,
        conversation=conversation,
        channel=channel,
        direction=direction,
        body=body,
        subject=subject,
        status=status,
        provider_message_id=provider_message_id,
        created_at=now,
    )
    conversation.last_message_at = now
    if direction == Message.Direction.INBOUND:
        conversation.unread_count += 1
    conversation.save(update_fields=["last_message_at", "unread_count", "updated_at"])
    return message
