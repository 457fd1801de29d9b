"""Conversation commands that reach the provider too."""
from crm.models import Conversation
from crm.services.conversations import conversation_mark_read

from .errors import refusal
from .providers.base import Binding
from .providers.registry import registry


def conversation_read(*, conversation: Conversation) -> Conversation:
    """Mark it read at its provider (when it has one there), then here. A provider outage raises
    `ChannelUnavailable` and leaves our count as it was, so the two never disagree silently."""
    if conversation.provider and conversation.provider_conversation_id:
        provider = registry.get(conversation.provider)
        if provider is None:
            raise refusal("no_provider", conversation.channel_family)
        default = provider.default_binding(organization_id=conversation.organization_id, channel="sms")
        binding = default or Binding(organization_id=conversation.organization_id, channel="sms",
                                     provider_key=conversation.provider)
        provider.mark_read(binding, provider_conversation_id=conversation.provider_conversation_id)
    return conversation_mark_read(conversation=conversation)
