"""The `console` provider, for development: records what it would send (in `outbox` and the log) and sends
nothing. Bind it to an organization's channel with a `ChannelBinding` row."""
import itertools
import logging
import threading

from crm.models import Contact, Message

from .base import Binding, Capabilities, ChannelProvider, SendResult

logger = logging.getLogger(__name__)
ALL = Capabilities(subject=True, html=True, attachments=True, media=True, cc_bcc=True, threads=True)


class ConsoleProvider(ChannelProvider):
    key = "console"
    capabilities = {"sms": Capabilities(attachments=True, media=True), "email": ALL,
                    "whatsapp": Capabilities(attachments=True, media=True, templates=True)}

    def __init__(self):
        self.outbox: list[dict] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, binding: Binding, message: Message, *, contact: Contact) -> SendResult:
        with self._lock:
            provider_id = f"console-{next(self._ids)}"
            self.outbox.append({"id": provider_id, "organization_id": binding.organization_id,
                                "channel": message.channel, "to": contact.email if message.channel == "email"
                                else contact.phone, "subject": message.subject, "body": message.body,
                                "html": message.html, "attachments": list(message.attachments)})
        logger.info("channels.console.send", extra={"organization_id": binding.organization_id,
                                                    "channel": message.channel, "message_id": message.pk,
                                                    "provider_message_id": provider_id})
        return SendResult(provider_message_id=provider_id, status=Message.Status.DELIVERED)
