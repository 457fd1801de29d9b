"""Booking, rescheduling and cancelling as commands against the calendar system that owns the calendar.

GHL holds no slot and has no idempotency, so each command, for one calendar at a time (a database lock held for
the command, across processes), does: replay a finished idempotency key; look in the calendar system for the
booking it would make (same contact, calendar and start: a worker that died after GHL answered finds its
appointment instead of making another); re-check the slot is free; write; read the result back (verify); store
the local row and its link under the provider's sync origin (so nothing pushes it back); record the key. The
transaction commits all of that at once, then the calendar's cached free slots are dropped.
"""
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from .. import calendar_time
from ..calendar_backend import (
    BackendError,
    BackendRejected,
    BackendSlotTaken,
    CalendarBackend,
    RemoteAppointment,
    calendar_backend_for,
)
from ..models import Appointment, AppointmentRequest, Calendar, Contact
from ..selectors.external_ids import external_id_for_object
from .appointment_errors import (
    AppointmentConflict,
    AppointmentForbidden,
    AppointmentInvalid,
    AppointmentNotFound,
    AppointmentUnavailable,
)
from .appointment_sync import appointment_record_remote
from .calendar_lock import calendar_booking_lock
from .free_slots import (
    calendar_free_slot_starts,
    calendar_free_slots_invalidate,
    calendar_zone,
    nearest_of,
    nearest_window,
)


@dataclass(frozen=True)
class BookingResult:
    appointment: Appointment | None  # None for a dry run
    external_id: str
    starts_at: datetime
    ends_at: datetime
    status: str
    replayed: bool = False  # answered from a finished idempotency key
    found_existing: bool = False  # the calendar system already had it (a retried request or worker)
    dry_run: bool = False


def _backend(calendar: Calendar) -> CalendarBackend:
    backend = calendar_backend_for(calendar)
    if backend is None:
        raise AppointmentUnavailable(
            f"Calendar {calendar.name!r} is not connected to a calendar system right now.", field="calendar")
    return backend


def _request_hash(action: str, **values) -> str:
    return hashlib.sha256(json.dumps({"action": action, **values}, sort_keys=True, default=str).encode()).hexdigest()


def _replay(organization: Organization, key: str | None, action: str, request_hash: str,
            backend: CalendarBackend) -> BookingResult | None:
    if not key:
        return None
    done = AppointmentRequest.objects.for_org(organization).filter(key=key).select_related("appointment").first()
    if done is None:
        return None
    if done.action != action or done.request_hash != request_hash:
        raise AppointmentInvalid(
            "This idempotency_key was already used for a different request: use a new key.", field="idempotency_key")
    appt = done.appointment
    external_id = external_id_for_object(obj=appt, provider=backend.provider, account_id=backend.account_id) or ""
    return BookingResult(appointment=appt, external_id=external_id, starts_at=appt.starts_at, ends_at=appt.ends_at,
                         status=appt.status, replayed=True)


def _remember(organization: Organization, key: str | None, action: str, request_hash: str, appt: Appointment):
    if key:
        AppointmentRequest.objects.create(
            organization=organization, key=key, action=action, request_hash=request_hash, appointment=appt)


def _start(calendar: Calendar, start_time: str | datetime) -> datetime:
    try:
        starts_at = calendar_time.parse_start_time(start_time, tz=calendar_zone(calendar))
    except calendar_time.TimeInputError as exc:
        raise AppointmentInvalid(exc.message, field=exc.field) from exc
    if starts_at <= timezone.now():
        raise AppointmentInvalid("start_time is in the past.", field="start_time")
    return starts_at


def _free_around(calendar: Calendar, backend: CalendarBackend, starts_at: datetime) -> list[datetime]:
    """Fresh free slots of the window alternatives come from: one request answers both "is it free?" and
    "what else is near?" (GHL's rate limit, 100 requests per 10 s, is what contention spends)."""
    start, end = nearest_window(around=starts_at)
    return calendar_free_slot_starts(calendar=calendar, start=start, end=end, fresh=True, backend=backend)


def _conflict(
    calendar: Calendar, backend: CalendarBackend, starts_at: datetime, free: list[datetime] | None = None
) -> AppointmentConflict:
    if free is None:
        try:
            free = _free_around(calendar, backend, starts_at)
        except BackendError:
            free = []
    alternatives = nearest_of(free, around=starts_at, tz=calendar_zone(calendar))
    when = starts_at.astimezone(calendar_zone(calendar)).isoformat()
    return AppointmentConflict(f"{when} is not free on {calendar.name!r}; pick one of the alternatives.",
                               field="start_time", alternatives=alternatives)


def _own_booking(
    backend: CalendarBackend, contact_ext: str, starts_at: datetime, ends_at: datetime
) -> RemoteAppointment | None:
    return next((r for r in backend.appointments_between(start=starts_at, end=ends_at)
                 if r.contact_external_id == contact_ext and r.starts_at == starts_at
                 and r.status != Appointment.Status.CANCELLED), None)


def _precheck_taken(
    calendar: Calendar, backend: CalendarBackend, contact_ext: str, starts_at: datetime, ends_at: datetime
) -> AppointmentConflict | None:
    """Before queueing for the lock: a time the cached free slots show taken, where this contact has no booking
    (asked fresh: a booking of ours whose worker died must be adopted, never refused), is a conflict at once.
    Cheap for the many losers of a race; the winner still re-checks everything fresh under the lock. A cached
    answer is at most FREE_SLOTS_CACHE_SECONDS old, and our own changes and GHL's webhooks drop it."""
    if _own_booking(backend, contact_ext, starts_at, ends_at) is not None:
        return None
    start, end = nearest_window(around=starts_at)
    cached = calendar_free_slot_starts(calendar=calendar, start=start, end=end, backend=backend)
    if starts_at in cached:
        return None
    return _conflict(calendar, backend, starts_at, cached)


def _verified(backend: CalendarBackend, external_id: str, starts_at: datetime, status: str | None = None):
    remote = backend.appointment_get(external_id)
    if remote is None or remote.starts_at != starts_at or (status and remote.status != status):
        raise AppointmentUnavailable(
            "The calendar system did not keep the change as sent; nothing was stored here. Retry the request.")
    return remote


def appointment_store_remote(
    *, organization: Organization, calendar: Calendar, contact: Contact, remote: RemoteAppointment,
    backend: CalendarBackend,
) -> Appointment:
    """Create or update the local appointment linked to ``remote`` (a command's verified answer) under the
    backend's sync origin, announcing the change (booked, cancelled); the caller holds the calendar's lock."""
    return appointment_record_remote(
        organization=organization, calendar=calendar, contact=contact, remote=remote, provider=backend.provider,
        account_id=backend.account_id, connection_id=backend.connection_id).appointment


def _same_org(organization: Organization, **rows) -> None:
    for label, row in rows.items():
        if row is None or row.organization_id != organization.pk or getattr(row, "is_archived", False):
            raise AppointmentNotFound(f"No such {label}.", field=label)


def appointment_book(
    *,
    organization: Organization,
    calendar: Calendar,
    contact: Contact,
    start_time: str | datetime,
    title: str = "",
    notes: str = "",
    idempotency_key: str | None = None,
    dry_run: bool = False,
) -> BookingResult:
    """Book ``contact`` on ``calendar`` at ``start_time`` (ISO with offset, or naive in the calendar's zone).

    Raises `AppointmentConflict` (with the nearest free slots) when the time is not free, `AppointmentInvalid`,
    `AppointmentNotFound`, `AppointmentUnavailable` (retry later). A retry with the same key, or a retry after a
    crash, answers with the one appointment instead of booking another.
    """
    _same_org(organization, calendar=calendar, contact=contact)
    if not calendar.is_active:
        raise AppointmentInvalid(f"Calendar {calendar.name!r} is not taking bookings.", field="calendar")
    starts_at = _start(calendar, start_time)
    ends_at = starts_at + timedelta(minutes=calendar.slot_duration_minutes)
    digest = _request_hash("book", calendar=calendar.pk, contact=contact.pk, start=starts_at.timestamp(),
                           title=title, notes=notes)
    backend = _backend(calendar)
    contact_ext = backend.contact_external_id(contact)
    if not contact_ext:
        raise AppointmentUnavailable(
            f"{contact} is not in the calendar system yet (its sync is pending); retry in a minute.", field="contact")
    try:
        replay = None if dry_run else _replay(organization, idempotency_key, "book", digest, backend)
        if replay is not None:
            return replay
        conflict = _precheck_taken(calendar, backend, contact_ext, starts_at, ends_at)
        if conflict is not None:
            raise conflict
        with transaction.atomic(), calendar_booking_lock(calendar.pk):
            replay = None if dry_run else _replay(organization, idempotency_key, "book", digest, backend)
            if replay is not None:
                return replay
            existing = _own_booking(backend, contact_ext, starts_at, ends_at)
            if existing is None:
                free = _free_around(calendar, backend, starts_at)
                if starts_at not in free:
                    raise _conflict(calendar, backend, starts_at, free)
            if dry_run:
                return BookingResult(appointment=None, external_id=existing.external_id if existing else "",
                                     starts_at=starts_at, ends_at=ends_at, status="confirmed", dry_run=True,
                                     found_existing=existing is not None)
            if existing is None:
                try:
                    created = backend.appointment_create(contact_external_id=contact_ext, starts_at=starts_at,
                                                         ends_at=ends_at, title=title, notes=notes)
                except BackendSlotTaken:
                    raise _conflict(calendar, backend, starts_at) from None
                remote = _verified(backend, created.external_id, starts_at)
            else:
                remote = existing
            appt = appointment_store_remote(organization=organization, calendar=calendar, contact=contact,
                                            remote=remote, backend=backend)
            _remember(organization, idempotency_key, "book", digest, appt)
            transaction.on_commit(lambda: calendar_free_slots_invalidate(calendar=calendar))
    except BackendRejected as exc:
        raise AppointmentInvalid(exc.message) from exc
    except BackendError as exc:
        raise AppointmentUnavailable(f"The calendar system did not answer ({exc}); retry the request.") from exc
    return BookingResult(appointment=appt, external_id=remote.external_id, starts_at=remote.starts_at,
                         ends_at=remote.ends_at, status=appt.status, found_existing=existing is not None)


def _linked(appointment: Appointment, backend: CalendarBackend) -> str:
    external_id = external_id_for_object(obj=appointment, provider=backend.provider, account_id=backend.account_id)
    if not external_id:
        raise AppointmentInvalid("This appointment is not in the calendar system.", field="appointment")
    return external_id


def appointment_reschedule(
    *,
    organization: Organization,
    appointment: Appointment,
    start_time: str | datetime,
    idempotency_key: str | None = None,
    dry_run: bool = False,
) -> BookingResult:
    """Move the appointment to ``start_time``, keeping its length. `AppointmentForbidden` when the calendar
    does not allow rescheduling; other errors as `appointment_book`. Moving it where it already is succeeds."""
    _same_org(organization, appointment=appointment)
    calendar = appointment.calendar
    if not calendar.allow_reschedule:
        raise AppointmentForbidden(f"Calendar {calendar.name!r} does not allow rescheduling.", field="appointment")
    if appointment.status == Appointment.Status.CANCELLED:
        raise AppointmentInvalid("A cancelled appointment cannot be moved: book a new one.", field="appointment")
    starts_at = _start(calendar, start_time)
    ends_at = starts_at + (appointment.ends_at - appointment.starts_at)
    digest = _request_hash("reschedule", appointment=appointment.pk, start=starts_at.timestamp())
    backend = _backend(calendar)
    external_id = _linked(appointment, backend)
    try:
        with transaction.atomic(), calendar_booking_lock(calendar.pk):
            replay = None if dry_run else _replay(organization, idempotency_key, "reschedule", digest, backend)
            if replay is not None:
                return replay
            current = backend.appointment_get(external_id)
            if current is None:
                raise AppointmentNotFound("The calendar system no longer has this appointment.", field="appointment")
            moved = current.starts_at == starts_at
            overlaps_itself = current.starts_at < ends_at and starts_at < current.ends_at
            # An overlap with its own current time is for the calendar system to judge (its free slots still
            # count the appointment being moved).
            if not moved and not overlaps_itself:
                free = _free_around(calendar, backend, starts_at)
                if starts_at not in free:
                    raise _conflict(calendar, backend, starts_at, free)
            if dry_run:
                return BookingResult(appointment=appointment, external_id=external_id, starts_at=starts_at,
                                     ends_at=ends_at, status=current.status, dry_run=True, found_existing=moved)
            if not moved:
                try:
                    backend.appointment_update(external_id, starts_at=starts_at, ends_at=ends_at)
                except BackendSlotTaken:
                    raise _conflict(calendar, backend, starts_at) from None
            remote = _verified(backend, external_id, starts_at)
            appt = appointment_store_remote(organization=organization, calendar=calendar,
                                            contact=appointment.contact, remote=remote, backend=backend)
            _remember(organization, idempotency_key, "reschedule", digest, appt)
            transaction.on_commit(lambda: calendar_free_slots_invalidate(calendar=calendar))
    except BackendRejected as exc:
        raise AppointmentInvalid(exc.message) from exc
    except BackendError as exc:
        raise AppointmentUnavailable(f"The calendar system did not answer ({exc}); retry the request.") from exc
    return BookingResult(appointment=appt, external_id=external_id, starts_at=remote.starts_at,
                         ends_at=remote.ends_at, status=appt.status, found_existing=moved)


def appointment_cancel(
    *,
    organization: Organization,
    appointment: Appointment,
    idempotency_key: str | None = None,
    dry_run: bool = False,
) -> BookingResult:
    """Cancel the appointment (GHL keeps it with status ``cancelled``). `AppointmentForbidden` when the calendar
    does not allow cancelling; cancelling a cancelled appointment succeeds and changes nothing."""
    _same_org(organization, appointment=appointment)
    calendar = appointment.calendar
    if not calendar.allow_cancellation:
        raise AppointmentForbidden(f"Calendar {calendar.name!r} does not allow cancelling.", field="appointment")
    digest = _request_hash("cancel", appointment=appointment.pk)
    backend = _backend(calendar)
    external_id = _linked(appointment, backend)
    cancelled = Appointment.Status.CANCELLED
    try:
        with transaction.atomic(), calendar_booking_lock(calendar.pk):
            replay = None if dry_run else _replay(organization, idempotency_key, "cancel", digest, backend)
            if replay is not None:
                return replay
            current = backend.appointment_get(external_id)
            if current is None:
                raise AppointmentNotFound("The calendar system no longer has this appointment.", field="appointment")
            already = current.status == cancelled
            if not already and current.ends_at <= timezone.now():
                raise AppointmentInvalid("This appointment is over; it can no longer be cancelled.",
                                         field="appointment")
            if dry_run:
                return BookingResult(appointment=appointment, external_id=external_id, starts_at=current.starts_at,
                                     ends_at=current.ends_at, status=cancelled, dry_run=True, found_existing=already)
            if not already:
                backend.appointment_update(external_id, status=cancelled)
            remote = _verified(backend, external_id, current.starts_at, status=cancelled)
            appt = appointment_store_remote(organization=organization, calendar=calendar,
                                            contact=appointment.contact, remote=remote, backend=backend)
            _remember(organization, idempotency_key, "cancel", digest, appt)
            transaction.on_commit(lambda: calendar_free_slots_invalidate(calendar=calendar))
    except BackendRejected as exc:
        raise AppointmentInvalid(exc.message) from exc
    except BackendError as exc:
        raise AppointmentUnavailable(f"The calendar system did not answer ({exc}); retry the request.") from exc
    return BookingResult(appointment=appt, external_id=external_id, starts_at=remote.starts_at,
                         ends_at=remote.ends_at, status=appt.status, found_existing=already)
