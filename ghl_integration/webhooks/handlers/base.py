"""The handler contract and the per-family registry.

A handler is `handler(event: WebhookEvent, payload: dict) -> None`, called by the worker (never in the
request) inside a database transaction that is rolled back if it raises:

* `event` is the stored inbox row. Useful attributes: `event_type`, `webhook_id`, `delivered_at` (GHL's
  delivery `timestamp`, parsed, may be None), `location_id`, `company_id`, and — except for app-lifecycle
  events — `connection` and `organization` (the active connection for the location).
* `payload` is the parsed JSON body (a dict; field types are not guaranteed: validate what you read).
* Return normally when the event is applied (or deliberately dropped, e.g. stale): status becomes
  `processed`.
* Raise `RetryableWebhookError` for trouble that can pass (GHL API 429/5xx/timeouts, a lock): the event is
  retried with exponential backoff (or after the error's `retry_in`) and becomes `dead` after
  the inbox's attempt budget (`tuning.INBOX.max_attempts`). Any other unexpected exception is treated the
  same way (and logged with a traceback): a bug fixed by a deploy can still succeed.
* Raise `PermanentWebhookError` when retrying cannot help (payload missing a required field, a 4xx other
  than 429 from GHL): the event becomes `dead` at once, with the message in `last_error`.
* Delivery is not ordered and may repeat: compare GHL's updated-at (or `event.delivered_at`) with the
  watermark already applied and drop older events (crm ExternalRef.remote_updated_at).
* Never call the ORM directly: turn the payload into plain values and call `crm` services.
"""

from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any

Handler = Callable[[Any, dict], None]


class WebhookHandlerError(Exception):
    """Base class of the errors a handler may raise on purpose."""


class RetryableWebhookError(WebhookHandlerError):
    """The event may succeed later: retry with backoff, or after ``retry_in`` seconds when the handler knows
    how soon (it still counts as an attempt)."""

    def __init__(self, message: str = "", *, retry_in: float | None = None):
        super().__init__(message)
        self.retry_in = retry_in


class PermanentWebhookError(WebhookHandlerError):
    """The event can never succeed: mark it dead now."""


class HandlerRegistry:
    """The event types of one family and the handlers registered for them.

    Usage, in the family module itself (imported explicitly by `dispatch.py`):

        registry = HandlerRegistry("contacts", events=("ContactCreate", "ContactUpdate"))

        @registry.register("ContactCreate")
        def handle_contact_create(event, payload): ...

        registry.register("ContactUpdate", functools.partial(handle_contact_change, kind="update"))

    Registering an event outside the family, or the same event twice, raises at import time.
    """

    def __init__(self, family: str, *, events: Iterable[str]):
        self.family = family
        self.events = frozenset(events)
        self._handlers: dict[str, Handler] = {}

    def register(self, event_type: str, handler: Handler | None = None):
        if event_type not in self.events:
            raise ValueError(f"{event_type!r} is not an event of the {self.family!r} family")
        if event_type in self._handlers:
            raise ValueError(f"a handler for {event_type!r} is already registered")

        def decorator(func: Handler) -> Handler:
            self._handlers[event_type] = func
            return func

        return decorator(handler) if handler is not None else decorator

    @property
    def handlers(self) -> MappingProxyType:
        return MappingProxyType(self._handlers)
