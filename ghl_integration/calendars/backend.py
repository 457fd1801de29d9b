"""`crm.calendar_backend.CalendarBackend` over GHL's calendar API, for calendars mirrored from a connection."""
from datetime import datetime, timedelta

from django.utils import timezone

from crm.calendar_backend import BackendError, BackendRejected, BackendSlotTaken, CalendarBackend, RemoteAppointment
from crm.calendar_time import split_range
from crm.models import Calendar, Contact, ExternalIdentity
from crm.selectors.external_ids import external_id_for_object

from ..client.calendars import CalendarsApi
from ..client.exceptions import GhlApiError, GhlNotFound, GhlValidationError
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..timestamps import require_ghl_time
from .shape import remote_appointment_from_ghl

PROVIDER = "ghl"
# GHL's words for "that time is not a free slot" (create and update answer 400 with this message).
SLOT_TAKEN_MARKERS = ("no longer available", "not available")
ONE_MS = timedelta(milliseconds=1)


class GhlCalendarBackend(CalendarBackend):
    provider = PROVIDER

    def __init__(self, *, connection: GhlConnection, calendar_external_id: str, api: CalendarsApi | None = None):
        self.connection = connection
        self.account_id = connection.location_id
        self.connection_id = connection.pk
        self.calendar_external_id = calendar_external_id
        self._api = api

    @property
    def api(self) -> CalendarsApi:
        if self._api is None:
            self._api = GhlInstallation(self.connection).get_client().calendars
        return self._api

    def _call(self, method: str, *args, **kwargs):
        try:
            return getattr(self.api, method)(*args, **kwargs)
        except ConnectionInactive as exc:
            raise BackendError("the GHL connection is not active") from exc
        except GhlValidationError as exc:
            said = " ".join(exc.messages) or str(exc.message)
            if exc.status == 400 and any(m in said.lower() for m in SLOT_TAKEN_MARKERS):
                raise BackendSlotTaken(said) from exc
            raise BackendRejected(f"GHL refused it: {said}") from exc
        except GhlNotFound:
            raise
        except GhlApiError as exc:
            raise BackendError(type(exc).__name__) from exc

    def free_slots(self, *, start: datetime, end: datetime) -> list[datetime]:
        out: list[datetime] = []
        for piece_start, piece_end in split_range(start, end):
            days = self._call("free_slots", self.calendar_external_id, start=piece_start, end=piece_end - ONE_MS)
            out += [require_ghl_time(slot, field="slots") for slots in days.values() for slot in slots]
        return sorted(set(out))

    def contact_external_id(self, contact: Contact) -> str | None:
        return external_id_for_object(obj=contact, provider=PROVIDER, account_id=self.account_id)

    def appointments_between(self, *, start: datetime, end: datetime) -> list[RemoteAppointment]:
        asked_at = timezone.now()
        events = self._call("events", start=start, end=end, calendar_id=self.calendar_external_id)
        return [remote_appointment_from_ghl(ev, observed_at=asked_at) for ev in events
                if ev.get("calendarId") == self.calendar_external_id]

    def appointment_get(self, external_id: str) -> RemoteAppointment | None:
        try:
            asked_at = timezone.now()
            return remote_appointment_from_ghl(self._call("get_appointment", external_id), observed_at=asked_at)
        except GhlNotFound:
            return None

    def appointment_create(self, *, contact_external_id: str, starts_at: datetime, ends_at: datetime, title: str,
                           notes: str) -> RemoteAppointment:
        body = {"calendarId": self.calendar_external_id, "contactId": contact_external_id,
                "startTime": starts_at.isoformat(), "endTime": ends_at.isoformat()}
        if title:
            body["title"] = title
        if notes:
            body["description"] = notes  # GHL's create body has no `notes` (notes are their own endpoint)
        return remote_appointment_from_ghl(self._call("create_appointment", body))

    def appointment_update(self, external_id: str, *, starts_at: datetime | None = None,
                           ends_at: datetime | None = None, status: str | None = None) -> RemoteAppointment:
        changes: dict = {}
        if starts_at is not None:
            changes["startTime"] = starts_at.isoformat()
        if ends_at is not None:
            changes["endTime"] = ends_at.isoformat()
        if status is not None:
            changes["appointmentStatus"] = status
        try:
            return remote_appointment_from_ghl(self._call("update_appointment", external_id, changes))
        except GhlNotFound as exc:
            raise BackendRejected("GHL no longer has this appointment.") from exc


def ghl_calendar_backend_for(calendar: Calendar) -> GhlCalendarBackend | None:
    """`crm.calendar_backend` resolver: the calendar's GHL link whose location has an active connection."""
    links = ExternalIdentity.objects.for_org(calendar.organization_id).filter(
        provider=PROVIDER, content_type__app_label="crm", content_type__model="calendar", object_id=calendar.pk
    ).values_list("account_id", "external_id")
    for account_id, external_id in links:
        connection = GhlConnection.objects.for_org(calendar.organization_id).filter(
            status=GhlConnection.Status.ACTIVE, location_id=account_id).first()
        if connection is not None:
            return GhlCalendarBackend(connection=connection, calendar_external_id=external_id)
    return None
