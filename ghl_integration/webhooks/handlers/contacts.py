"""Contact events (https://highlevel.stoplight.io/docs/integrations/ — "Contact*" webhook docs).

Every Contact* body is the whole contact (ContactDndUpdate adds `dndSettings`), so one handler applies
them all through `crm.sync` (watermark, echo suppression, three-way merge); ContactDelete archives.
Ordering: GHL sends no `dateUpdated` here, so the delivery `timestamp` (`event.delivered_at`) is the
watermark; events at or before it are dropped as stale, except ContactDndUpdate's per-channel DND, which has a
watermark of its own (see `ghl_integration/contacts/README.md`).
"""
import functools
import logging

from crm.sync.inbound import CreatePushInFlight

from ...contacts.inbound import contact_apply_ghl_event
from .base import HandlerRegistry, PermanentWebhookError, RetryableWebhookError

logger = logging.getLogger(__name__)

# A create push is one HTTP call and one commit: a couple of seconds is plenty for its link to appear.
CREATE_IN_FLIGHT_RETRY_SECONDS = 2.0

EVENTS = ("ContactCreate", "ContactUpdate", "ContactDelete", "ContactTagUpdate", "ContactDndUpdate")

registry = HandlerRegistry("contacts", events=EVENTS)


def handle_contact_change(event, payload: dict, *, deleted: bool = False) -> None:
    """ContactCreate/Update/TagUpdate/DndUpdate (and, with ``deleted``, ContactDelete)."""
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        raise PermanentWebhookError("contact event without an id")
    try:
        result = contact_apply_ghl_event(connection=event.connection, payload=payload,
                                         delivered_at=event.delivered_at, deleted=deleted)
    except CreatePushInFlight as exc:
        raise RetryableWebhookError(f"a create push to this location is in flight; {exc} may be its echo",
                                    retry_in=CREATE_IN_FLIGHT_RETRY_SECONDS) from exc
    logger.info("ghl.sync.contact-event", extra={
        "event_type": event.event_type, "external_id": payload["id"], "outcome": result.outcome})


# https://highlevel.stoplight.io/docs/integrations/ — ContactCreate
registry.register("ContactCreate", handle_contact_change)
# https://highlevel.stoplight.io/docs/integrations/ — ContactUpdate
registry.register("ContactUpdate", functools.partial(handle_contact_change))
# https://highlevel.stoplight.io/docs/integrations/ — ContactTagUpdate
registry.register("ContactTagUpdate", functools.partial(handle_contact_change))
# https://highlevel.stoplight.io/docs/integrations/ — ContactDndUpdate
registry.register("ContactDndUpdate", functools.partial(handle_contact_change))
# https://highlevel.stoplight.io/docs/integrations/ — ContactDelete: archive, never destroy
registry.register("ContactDelete", functools.partial(handle_contact_change, deleted=True))
