"""Event type → handler. Every event falls into one of three cases:

* handled: a key in `EVENT_HANDLERS` (built from each kind's webhook family, as its `<kind>/kind.py` declares it
  in `ghl_integration/sync/registry.py`, and the app lifecycle's);
* deliberately ignored: in `IGNORED_EVENTS`, or an event of a family that has no handler for it yet;
* unknown: anything else; stored as `ignored` and logged as `ghl.webhook.unsupported-event`.

All three are answered 200 by the endpoint (a 4xx/5xx would only bring retries, or lose the event).
"""

from ..sync.registry import GHL_KINDS
from .handlers import app_lifecycle
from .handlers.base import Handler, HandlerRegistry

# Each kind's family (contacts, opportunities, appointments, messages), then the app's install/uninstall events.
FAMILY_REGISTRIES: tuple[HandlerRegistry, ...] = (
    *(kind.webhooks for kind in GHL_KINDS if kind.webhooks is not None),
    app_lifecycle.registry,
)

# Processed even without an active connection for the location.
CONNECTIONLESS_EVENTS = frozenset(app_lifecycle.EVENTS)

IGNORED_EVENTS = frozenset(
    {
        "NoteCreate",
        "NoteUpdate",
        "NoteDelete",
        "TaskCreate",
        "TaskComplete",
        "TaskDelete",
        "CampaignStatusUpdate",
        "LocationCreate",
        "LocationUpdate",
        "UserCreate",
        "OrderCreate",
        "OrderStatusUpdate",
        "RecordCreate",
        "RecordUpdate",
        "RecordDelete",
        # Recognised by shape (no `type` in the body), see parsing.SHAPES.
        "InvoiceEvent",
        "PriceEvent",
        "ProductEvent",
        "AssociationEvent",
        "RelationEvent",
        "ObjectSchemaEvent",
        "RecordEvent",
    }
)


def build_event_handlers(registries: tuple[HandlerRegistry, ...]) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for registry in registries:
        for event_type, handler in registry.handlers.items():
            if event_type in handlers:
                raise ValueError(f"{event_type!r} is registered by two families")
            handlers[event_type] = handler
    return handlers


EVENT_HANDLERS: dict[str, Handler] = build_event_handlers(FAMILY_REGISTRIES)
FAMILY_EVENTS = frozenset().union(*(registry.events for registry in FAMILY_REGISTRIES))


def handler_for(event_type: str) -> Handler | None:
    return EVENT_HANDLERS.get(event_type)


def is_known_event(event_type: str) -> bool:
    """Known = handled, or deliberately ignored (either listed, or of a family awaiting its handler)."""
    return event_type in EVENT_HANDLERS or event_type in IGNORED_EVENTS or event_type in FAMILY_EVENTS
