"""Conversation and message events ("InboundMessage", "OutboundMessage", "ConversationUnreadWebhook" and
"ProviderOutboundMessage" webhook docs).

`ConversationUnreadUpdate` is the `type` GHL's ConversationUnreadWebhook example carries;
`ProviderOutboundMessage` is recognised by shape (its `type` is the channel). No handler yet: the messaging
issue registers them here.
"""

from .base import HandlerRegistry

EVENTS = ("InboundMessage", "OutboundMessage", "ConversationUnreadUpdate", "ProviderOutboundMessage")

registry = HandlerRegistry("conversations", events=EVENTS)
