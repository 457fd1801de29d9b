"""The appointment kind's GHL half, declared once (listed in `ghl_integration/sync/registry.py`).

Appointments are applied by `crm.services.appointment_sync` (not yet a `crm.sync.kinds.SyncKind`); bookings go
through GHL's calendar API at once (`backend.py`, registered as `crm`'s calendar backend in `apps.py`), and only
the details edited here afterwards go through the outbox.
"""
from ..sync.kind import GhlKind
from ..webhooks.handlers import appointments as appointment_webhooks
from . import tasks
from .mirror import calendars_on_connected
from .outbound import AppointmentPusher

APPOINTMENTS = GhlKind(
    name="appointment",
    # GHL → here as it happens: Appointment* events (`appointments_inbound.py`)
    webhooks=appointment_webhooks.registry,
    # here → GHL: title, notes and status edited here (`outbound.py`); the booking service names the linked
    # location of each entry itself, so the kind has no target resolver
    pusher=AppointmentPusher,
    # on connect: mirror the calendars, then the first (widest) appointment pass; there is no separate pull
    on_connected=calendars_on_connected,
    # beat: the calendars' hourly refresh and the appointment reconciliation (15 minutes, and nightly in full)
    reconcile=(tasks.calendars_refresh_all_task, tasks.appointments_reconcile_all_task),
)
