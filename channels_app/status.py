"""Delivery status of outbound messages: provider status events, and polling for messages that stay open.

Both go through `crm.services.conversations.message_status_apply`, the state machine that never moves a
status backwards (events arrive reordered; a poll may read older news than a webhook brought).
"""
import logging
from datetime import timedelta

from django.utils import timezone

from crm.models import Message
from crm.services.conversations import message_status_apply

from .errors import ChannelError
from .providers.base import StatusUpdate
from .providers.registry import registry

logger = logging.getLogger(__name__)

POLL_AFTER = timedelta(seconds=30)  # webhooks usually bring the news sooner; polling is the fallback
POLL_FOR = timedelta(days=2)  # after that a message's status is what it is
POLL_BATCH = 100
OPEN = (Message.Status.QUEUED, Message.Status.SENT)


def message_status_from_event(*, organization_id: int, provider: str, update: StatusUpdate) -> Message | None:
    """Apply a provider's status event to the message it names (by provider id, else email message id).
    Returns the message, or None when it is not one of ours (yet)."""
    scope = Message.objects.for_org(organization_id).filter(provider=provider, direction=Message.Direction.OUTBOUND)
    if update.provider_message_id:
        message = scope.filter(provider_message_id=update.provider_message_id).first()
    elif update.provider_email_message_id:
        message = scope.filter(provider_email_message_id=update.provider_email_message_id).first()
    else:
        message = None
    if message is None or not update.status:
        return message
    moved = message_status_apply(message_id=message.pk, status=update.status, error=update.error,
                                 error_code=update.error_code, at=update.at)
    logger.info("channels.status.event", extra={"message_id": message.pk, "status": update.status,
                                                "applied": moved})
    return message


def messages_poll_status(*, limit: int = POLL_BATCH) -> int:
    """Ask the provider for messages still open `POLL_AFTER` after they were sent. Returns how many."""
    now = timezone.now()
    open_messages = list(Message.objects.filter(direction=Message.Direction.OUTBOUND, status__in=OPEN,
                                                send_started_at__lt=now - POLL_AFTER,
                                                send_started_at__gt=now - POLL_FOR)
                         .exclude(provider_message_id="").order_by("send_started_at")[:limit])
    from .sending import message_provider_binding

    for message in open_messages:
        provider = registry.get(message.provider)
        if provider is None:
            continue
        try:
            _, binding = message_provider_binding(message)
            update = provider.fetch_status(binding, message)
        except ChannelError as exc:
            logger.info("channels.status.poll-failed", extra={"message_id": message.pk, "code": exc.code})
            continue
        if update is not None and update.status:
            message_status_apply(message_id=message.pk, status=update.status, error=update.error,
                                 error_code=update.error_code, at=update.at)
    return len(open_messages)
