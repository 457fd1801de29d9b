"""The errors of the channel layer: a refusal (never retried, says why and on which channel) or an outage."""


class ChannelError(Exception):
    """Base: `code` is stable (see REFUSALS), `channel` the channel type, `message` for people and models."""

    def __init__(self, code: str, message: str, *, channel: str = "", hint: str = ""):
        super().__init__(message)
        self.code, self.message, self.channel, self.hint = code, message, channel, hint


class SendRefused(ChannelError):
    """The message cannot be sent as asked; sending it again unchanged will not help. Nothing was sent."""


class ChannelUnavailable(ChannelError):
    """The provider could not be reached or asked us to wait: a retry later may succeed.

    `maybe_sent` is True when the request may have reached the provider (a timeout after sending): the retry
    must look for the message at the provider before sending again."""

    def __init__(self, code: str, message: str, *, channel: str = "", hint: str = "", maybe_sent: bool = False,
                 retry_after: float | None = None):
        super().__init__(code, message, channel=channel, hint=hint)
        self.maybe_sent, self.retry_after = maybe_sent, retry_after


# code -> what the refusal means (the same words whether we refuse before sending or the provider refuses)
REFUSALS = {
    "dnd": "The contact has do-not-disturb on for {channel}.",
    "missing_phone": "The contact has no phone number, which {channel} needs.",
    "missing_email": "The contact has no email address, which email needs.",
    "whatsapp_window": "WhatsApp allows free text only within 24 hours of the contact's last WhatsApp "
                       "message; send an approved template instead.",
    "unsupported": "{channel} does not support this.",
    "no_provider": "No provider serves {channel} for this organization.",
    "not_linked": "The contact is not in the provider yet.",
    "invalid": "The provider refused the message.",
}
CHANNEL_NAMES = {"sms": "SMS", "email": "email", "whatsapp": "WhatsApp", "call": "calls"}


def refusal(code: str, channel: str, detail: str = "", *, hint: str = "") -> SendRefused:
    text = REFUSALS[code].format(channel=CHANNEL_NAMES.get(channel, channel))
    return SendRefused(code, f"{text} {detail}".strip(), channel=channel, hint=hint)
