"""GHL's message webhooks applied through the channel layer (`channels_app.inbound`, `channels_app.status`).

The contact is matched by its GHL link; an unlinked one (its ContactCreate not applied yet, or lost) is fetched
from GHL and applied through the contact sync first, so a message never creates a duplicate person.
"""
import logging
from datetime import datetime

from channels_app.inbound import InboundResult, message_from_provider
from channels_app.providers.registry import registry as channel_registry
from channels_app.status import message_status_from_event
from crm.models import Contact, Message
from crm.selectors.external_ids import local_object_for_external_id
from crm.services.conversations import conversations_unread_apply

from ..calendars.appointments_inbound import contact_link_from_ghl
from ..installation import GhlInstallation
from ..models import GhlConnection
from .channel import PROVIDER

logger = logging.getLogger(__name__)


class MessagePayloadError(Exception):
    """The body cannot be applied, now or later (missing ids, a contact GHL no longer has)."""


def _contact(connection: GhlConnection, ghl_contact_id: str) -> Contact | None:
    def find():
        return local_object_for_external_id(model=Contact, provider=PROVIDER, account_id=connection.location_id,
                                            external_id=ghl_contact_id)

    contact = find()
    if contact is None:
        with GhlInstallation(connection).get_client() as client:
            if contact_link_from_ghl(connection=connection, contact_external_id=ghl_contact_id, client=client):
                contact = find()
    return contact


def message_apply_ghl(*, connection: GhlConnection, payload: dict) -> InboundResult:
    """InboundMessage / OutboundMessage → one `Message` (once, however often GHL delivers it)."""
    event = channel_registry.get(PROVIDER).parse_inbound(payload)
    if event is None:
        raise MessagePayloadError("message event without messageId or contactId")
    contact = _contact(connection, event.contact_external_id)
    if contact is None:
        raise MessagePayloadError(f"GHL has no contact {event.contact_external_id}")
    return message_from_provider(contact=contact, provider=PROVIDER, event=event)


def message_status_apply_ghl(*, connection: GhlConnection, payload: dict) -> Message | None:
    """LCEmailStats (and any status-bearing message event) → the message's status, forwards only."""
    update = channel_registry.get(PROVIDER).parse_status(payload)
    if update is None:
        return None
    return message_status_from_event(organization_id=connection.organization_id, provider=PROVIDER, update=update)


def unread_apply_ghl(*, connection: GhlConnection, payload: dict, delivered_at: datetime | None) -> int:
    conversation_id, count = payload.get("id"), payload.get("unreadCount")
    if not isinstance(conversation_id, str) or not isinstance(count, int) or count < 0:
        raise MessagePayloadError("ConversationUnreadUpdate without id or unreadCount")
    return conversations_unread_apply(organization_id=connection.organization_id, provider=PROVIDER,
                                      provider_conversation_id=conversation_id, unread_count=count,
                                      at=delivered_at)
