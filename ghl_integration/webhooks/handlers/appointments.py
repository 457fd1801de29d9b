"""Appointment events ("Appointment*" webhook docs; the docs' Update/Delete examples wrongly say
`AppointmentCreate`, real deliveries use their own name).

Every body carries the whole appointment (`{"locationId", "appointment": {...}}`), so one handler applies them
all through `crm.services.appointment_sync` (watermark on GHL's `dateUpdated`, our own bookings recognised,
statuses mirrored, booked/cancelled/no-show announced once, free slots dropped); AppointmentDelete archives.
"""
import functools
import logging

from crm.services.appointment_errors import AppointmentUnavailable
from crm.sync.inbound import CreatePushInFlight

from ...calendars.appointments_inbound import AppointmentPayloadError, appointment_apply_ghl
from ...client.exceptions import GhlApiError
from .base import HandlerRegistry, PermanentWebhookError, RetryableWebhookError

logger = logging.getLogger(__name__)

# A booking command holds the calendar for one GHL round trip or two; a contact create push is one call.
BUSY_RETRY_SECONDS = 2.0

EVENTS = ("AppointmentCreate", "AppointmentUpdate", "AppointmentDelete")

registry = HandlerRegistry("appointments", events=EVENTS)


def handle_appointment_change(event, payload: dict, *, deleted: bool = False) -> None:
    """AppointmentCreate/Update (and, with ``deleted``, AppointmentDelete)."""
    try:
        result = appointment_apply_ghl(connection=event.connection, appointment=payload.get("appointment"),
                                       observed_at=event.delivered_at, deleted=deleted)
    except AppointmentPayloadError as exc:
        raise PermanentWebhookError(str(exc)) from exc
    except (AppointmentUnavailable, CreatePushInFlight) as exc:
        raise RetryableWebhookError(str(exc), retry_in=BUSY_RETRY_SECONDS) from exc
    except GhlApiError as exc:  # fetching a missing calendar or contact failed: GHL may answer later
        raise RetryableWebhookError(f"GHL: {type(exc).__name__}") from exc
    logger.info("ghl.sync.appointment-event", extra={
        "event_type": event.event_type, "external_id": payload["appointment"]["id"], "outcome": result.outcome})


# https://highlevel.stoplight.io/docs/integrations/ — AppointmentCreate
registry.register("AppointmentCreate", handle_appointment_change)
# https://highlevel.stoplight.io/docs/integrations/ — AppointmentUpdate
registry.register("AppointmentUpdate", functools.partial(handle_appointment_change))
# https://highlevel.stoplight.io/docs/integrations/ — AppointmentDelete: archive, never destroy
registry.register("AppointmentDelete", functools.partial(handle_appointment_change, deleted=True))
