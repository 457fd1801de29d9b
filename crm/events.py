"""Business events: what happened to an organization's records, for the agents' triggers to react to.

Provider-neutral: the GHL webhook handlers, the channel layer and the local services all announce events
here; nothing here knows who listens. Receivers connect to `business_event` (a Django signal) and get
keyword arguments `event` (one of the names below), `organization_id`, `contact_id` (or None), `data`
(a small JSON-able dict: ids and the changed values) and `acting_agent_id`: the agent whose own tool call
caused the change, or None. Triggers use `acting_agent_id` so an agent never triggers on its own actions.

`emit()` sends after the surrounding transaction commits (at once outside one), so a receiver never sees
an event for a write that rolled back. A failing receiver is logged and does not affect the others.
"""
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

MESSAGE_RECEIVED = "message.received"
# An outbound message someone else sent through the provider (a person in GHL, a workflow): not our agents.
MESSAGE_SENT = "message.sent"
CONTACT_CREATED = "contact.created"
CONTACT_TAG_ADDED = "contact.tag_added"
OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed"
OPPORTUNITY_STATUS_CHANGED = "opportunity.status_changed"
APPOINTMENT_BOOKED = "appointment.booked"
APPOINTMENT_CANCELLED = "appointment.cancelled"
APPOINTMENT_NO_SHOW = "appointment.no_show"

EVENTS = (
    MESSAGE_RECEIVED, MESSAGE_SENT, CONTACT_CREATED, CONTACT_TAG_ADDED, OPPORTUNITY_STAGE_CHANGED,
    OPPORTUNITY_STATUS_CHANGED, APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED, APPOINTMENT_NO_SHOW,
)

business_event = Signal()

_acting_agent: ContextVar[int | None] = ContextVar("crm_acting_agent", default=None)


def acting_agent_id() -> int | None:
    """The agent whose tool call is running now, or None (a person, a webhook, a sync)."""
    return _acting_agent.get()


@contextmanager
def agent_acting(agent_id: int | None) -> Iterator[None]:
    """Mark every event emitted inside the block as caused by this agent. Nests; restores on exit."""
    token = _acting_agent.set(agent_id)
    try:
        yield
    finally:
        _acting_agent.reset(token)


def emit(event: str, *, organization_id: int, contact_id: int | None = None,
         data: dict[str, Any] | None = None) -> None:
    """Announce `event` once the current transaction commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown business event {event!r}; add it to crm.events.EVENTS")
    kwargs = {"event": event, "organization_id": organization_id, "contact_id": contact_id,
              "data": dict(data or {}), "acting_agent_id": acting_agent_id()}

    def send() -> None:
        for receiver, result in business_event.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                logger.error("business event receiver failed: event=%s org=%s receiver=%s error=%r",
                             event, organization_id, getattr(receiver, "__qualname__", receiver), result)

    transaction.on_commit(send)
