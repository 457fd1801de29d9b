"""The message kind's GHL half, declared once (listed in `ghl_integration/sync/registry.py`).

Messages are not an outbox kind: a message sent here goes out through GHL's `ChannelProvider` (`channel.py`,
registered into `channels_app` in `apps.py`), and what arrives is applied by `channels_app`'s inbound service.
"""
from ..sync.kind import GhlKind
from ..webhooks.handlers import conversations as conversation_webhooks
from . import tasks

MESSAGES = GhlKind(
    name="message",
    # GHL → here as it happens: InboundMessage, OutboundMessage, unread counts and email delivery statuses
    # (`inbound.py`)
    webhooks=conversation_webhooks.registry,
    # beat: the messages GHL has that its webhooks did not bring (`reconcile.py`)
    reconcile=(tasks.messages_reconcile_all_task,),
)
