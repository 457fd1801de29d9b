"""Conversation and message events ("InboundMessage", "OutboundMessage", "ConversationUnreadWebhook",
"LCEmailStats" and "ProviderOutboundMessage" webhook docs).

`ConversationUnreadUpdate` is the `type` GHL's ConversationUnreadWebhook example carries;
`ProviderOutboundMessage` is recognised by shape (its `type` is the channel) and only concerns conversation
provider apps (we are not one): acknowledged, not applied.
"""
import functools
import logging

from channels_app.inbound import SendInFlight

from ...client.exceptions import GhlApiError
from ...conversations.inbound import MessagePayloadError, message_apply_ghl, message_status_apply_ghl, unread_apply_ghl
from .base import HandlerRegistry, PermanentWebhookError, RetryableWebhookError

logger = logging.getLogger(__name__)

EVENTS = ("InboundMessage", "OutboundMessage", "ConversationUnreadUpdate", "ProviderOutboundMessage",
          "LCEmailStats")
# Our own send answers within seconds; its echo waits for that answer rather than being recorded twice.
SEND_IN_FLIGHT_RETRY_SECONDS = 2.0

registry = HandlerRegistry("conversations", events=EVENTS)


def handle_message(event, payload: dict) -> None:
    """InboundMessage / OutboundMessage: record the message once; the inbound one raises "message received"."""
    try:
        result = message_apply_ghl(connection=event.connection, payload=payload)
    except MessagePayloadError as exc:
        raise PermanentWebhookError(str(exc)) from exc
    except SendInFlight as exc:
        raise RetryableWebhookError(f"our send to this contact is in flight; {exc} may be its echo",
                                    retry_in=SEND_IN_FLIGHT_RETRY_SECONDS) from exc
    except GhlApiError as exc:  # fetching an unlinked contact failed
        if exc.retryable:
            raise RetryableWebhookError(str(exc)) from exc
        raise PermanentWebhookError(str(exc)) from exc
    logger.info("ghl.messages.event", extra={"event_type": event.event_type, "message_id": result.message.pk,
                                             "outcome": result.outcome})


def handle_conversation_unread(event, payload: dict) -> None:
    try:
        changed = unread_apply_ghl(connection=event.connection, payload=payload, delivered_at=event.delivered_at)
    except MessagePayloadError as exc:
        raise PermanentWebhookError(str(exc)) from exc
    logger.info("ghl.messages.unread", extra={"conversation": payload.get("id"), "changed": changed})


def handle_email_stats(event, payload: dict) -> None:
    message = message_status_apply_ghl(connection=event.connection, payload=payload)
    logger.info("ghl.messages.email-stats", extra={"message_id": message.pk if message else None})


# https://highlevel.stoplight.io/docs/integrations/ — InboundMessage
registry.register("InboundMessage", handle_message)
# https://highlevel.stoplight.io/docs/integrations/ — OutboundMessage (people, workflows, and our own echo)
registry.register("OutboundMessage", functools.partial(handle_message))
# https://highlevel.stoplight.io/docs/integrations/ — ConversationUnreadWebhook
registry.register("ConversationUnreadUpdate", handle_conversation_unread)
# https://highlevel.stoplight.io/docs/integrations/ — LCEmailStats: delivery events of emails
registry.register("LCEmailStats", handle_email_stats)
