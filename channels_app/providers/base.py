"""The interface every channel provider implements (GHL's lives in `ghl_integration/conversations/channel.py`).

A provider is stateless; what it needs for one organization comes in a `Binding` (which provider serves which
organization and channel type, and the provider account it sends from). Credentials are the provider's
business: it resolves them from its own connection for `binding.account_id`.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime

from crm.models import Contact, Message


@dataclass(frozen=True)
class Capabilities:
    """What one channel type of a provider can carry."""

    subject: bool = False
    html: bool = False
    attachments: bool = False
    media: bool = False
    templates: bool = False
    cc_bcc: bool = False
    threads: bool = False


@dataclass(frozen=True)
class Binding:
    organization_id: int
    channel: str
    provider_key: str
    account_id: str = ""


@dataclass(frozen=True)
class FileAttachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = Message.Status.SENT
    provider_conversation_id: str = ""
    provider_thread_id: str = ""
    provider_email_message_id: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery-status event: the provider's message id (or email message id) and the status it reports."""

    provider_message_id: str = ""
    provider_email_message_id: str = ""
    status: str = ""
    error: str = ""
    error_code: str = ""
    at: datetime | None = None


@dataclass
class InboundEvent:
    """A message the provider reports (from the contact, or sent by someone in the provider's own app)."""

    provider_message_id: str
    contact_external_id: str
    channel: str
    direction: str
    body: str = ""
    subject: str = ""
    html: str = ""
    kind: str = Message.Kind.MESSAGE
    attachments: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    status: str = ""
    sender_type: str = ""
    sender_ref: str = ""
    provider_conversation_id: str = ""
    provider_thread_id: str = ""
    provider_email_message_id: str = ""
    created_at: datetime | None = None


class ChannelProvider(ABC):
    """Subclasses set `key` and `capabilities` and implement `send`; the rest have safe defaults."""

    key: str = ""
    #: channel type -> Capabilities; a channel type absent here is not served.
    capabilities: dict[str, Capabilities] = {}

    def supports(self, channel: str) -> bool:
        return channel in self.capabilities

    def default_binding(self, *, organization_id: int, channel: str) -> Binding | None:
        """The binding this provider offers an organization that has none stored (e.g. from its active
        connection), or None. Must not write."""
        return None

    def upload(self, binding: Binding, *, contact: Contact, files: list[FileAttachment]) -> list[str]:
        """Upload files for a message; **must** return their URLs. Raises `SendRefused`/`ChannelUnavailable`."""
        raise NotImplementedError(f"{self.key} cannot upload attachments")

    @abstractmethod
    def send(self, binding: Binding, message: Message, *, contact: Contact) -> SendResult:
        """Send `message` (its row says what: body, subject, html, attachments, meta cc/bcc/from/reply_to).

        **Must** either return the provider's id, raise `SendRefused` (nothing was sent) or raise
        `ChannelUnavailable` (with `maybe_sent` when the request may have reached the provider)."""

    def find_sent(self, binding: Binding, message: Message, *, contact: Contact) -> SendResult | None:
        """After an attempt whose outcome is unknown: the provider's record of `message` if it was sent, else
        None (then it is sent again). Providers that cannot tell return None."""
        return None

    def fetch_status(self, binding: Binding, message: Message) -> StatusUpdate | None:
        """The provider's current status of a message we sent (the polling fallback), or None."""
        return None

    def mark_read(self, binding: Binding, *, provider_conversation_id: str) -> None:
        """Mark the provider's conversation read. Raises `ChannelUnavailable` when it cannot be reached.
        Providers without conversations of their own (console) have nothing to do."""
        return None

    def parse_inbound(self, payload: dict) -> InboundEvent | None:
        """A provider event as an `InboundEvent`, or None when it is not a message."""
        return None

    def parse_status(self, payload: dict) -> StatusUpdate | None:
        """A provider event as a `StatusUpdate`, or None when it carries no delivery status."""
        return None
