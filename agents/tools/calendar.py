"""The calendar tools: list_calendars, get_free_slots, book_appointment, reschedule_appointment,
cancel_appointment, list_appointments.

Reads of calendars and appointments come from the local mirror; free slots come from GHL through the cached
free-slots service. Writes call the booking commands (`crm/services/appointments.py`), which talk to GHL
synchronously (GHL holds no slot): each re-checks the slot, adopts a booking a retried worker already made, and
verifies. A dry run resolves and checks everything it can locally and sends nothing to GHL.
"""
import re
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm import calendar_time
from crm.calendar_backend import BackendError, calendar_backend_for
from crm.models import Appointment, Calendar, Contact, ExternalIdentity
from crm.services.appointment_errors import AppointmentError, AppointmentUnavailable
from crm.services.appointments import appointment_book, appointment_cancel, appointment_reschedule
from crm.services.free_slots import CalendarUnavailable, calendar_free_slots, calendar_zone

from ..runner.context import organization_zone
from .confirm import push_wait
from .dispatch import ToolContext
from .errors import ToolError
from .registry import Tool, registry
from .resolve import GHL_ID, LOCAL_ID_MAX_DIGITS, contact_resolve, fold, name_score, query_variants
from .when import WhenError, when_window

GHL = "ghl"
MAX_RANGE_DAYS = 92
LIST_LIMIT = 50
CALENDAR_MATCH_THRESHOLD = 70
HIDDEN_STATUSES = (Appointment.Status.CANCELLED, Appointment.Status.INVALID)
_TRAILING_DATE = re.compile(r"^(?P<who>.+?)[\s,]+(?:on\s+)?(?P<day>\d{4}-\d{2}-\d{2})$", re.I)

CALENDAR_REF = {"type": "string", "minLength": 1, "maxLength": 200,
                "description": "A calendar's name (as list_calendars shows it; close spellings work), its "
                               "calendar_id or its GHL calendar id."}
CONTACT_REF = {"type": "string", "minLength": 1, "maxLength": 320,
               "description": "Who: a name, an email, a phone, a contact_id or a GHL contact id."}
DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$",
        "description": "A date, YYYY-MM-DD."}
APPOINTMENT_REF = {
    "oneOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "minLength": 1, "maxLength": 400},
        {"type": "object", "additionalProperties": False, "required": ["contact", "date"],
         "properties": {"contact": CONTACT_REF, "date": DATE, "calendar": CALENDAR_REF}},
    ],
    "description": "Which appointment: its appointment_id, its GHL appointment id, or a contact plus a date "
                   "(\"Maria Lopez 2027-03-16\", or {\"contact\": \"Maria Lopez\", \"date\": \"2027-03-16\"}) "
                   "when that person has exactly one appointment that day.",
}
START_TIME = {"type": "string", "minLength": 10, "maxLength": 40,
              "description": "ISO 8601 start, with its offset (2027-03-16T14:00:00-04:00) or without one "
                             "(2027-03-16T14:00, read in the calendar's time zone). Use a slot get_free_slots "
                             "returned."}
APPOINTMENT_OUT = {"type": "object", "properties": {
    "appointment_id": {"type": ["integer", "null"]}, "ghl_appointment_id": {"type": ["string", "null"]},
    "calendar": {"type": "string"}, "calendar_id": {"type": "integer"},
    "contact": {"type": "object"}, "title": {"type": "string"},
    "starts_at": {"type": "string"}, "ends_at": {"type": "string"}, "timezone": {"type": "string"},
    "status": {"type": "string"},
    "synced_at": {"type": ["string", "null"], "description": "When the mirror last agreed with GHL about it."},
}}
WRITE_OUT = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string", "enum": ["confirmed", "existing", "unchanged", "dry_run", "cancelled"],
               "description": "confirmed: GHL has the change; existing: GHL already had it (a retry), nothing "
                              "was done twice; unchanged: it already was so; dry_run: nothing was sent."},
    "appointment": APPOINTMENT_OUT, "would": {"type": "string"}, "note": {"type": "string"},
}}


# -- shaping -----------------------------------------------------------------------------------------------------
def _external_ids(organization, model, pks: list[int]) -> dict[int, str]:
    ct = ContentType.objects.get_for_model(model)
    rows = ExternalIdentity.objects.for_org(organization).filter(provider=GHL, content_type=ct, object_id__in=pks)
    return {row.object_id: row.external_id for row in rows}


def calendar_out(calendar: Calendar, ghl_id: str | None) -> dict[str, Any]:
    return {"calendar_id": calendar.pk, "ghl_calendar_id": ghl_id, "name": calendar.name,
            "type": calendar.calendar_type, "timezone": calendar.timezone or "UTC",
            "slot_duration_minutes": calendar.slot_duration_minutes,
            "slot_interval_minutes": calendar.slot_interval_minutes,
            "allow_reschedule": calendar.allow_reschedule, "allow_cancellation": calendar.allow_cancellation,
            "is_active": calendar.is_active}


def _synced_at(link: ExternalIdentity | None) -> str | None:
    return link.last_synced_at.isoformat() if link is not None and link.last_synced_at else None


def appointments_out(organization, appointments: list[Appointment]) -> list[dict[str, Any]]:
    """Appointments as tools show them: times with the calendar's offset, GHL ids, the contact."""
    ct = ContentType.objects.get_for_model(Appointment)
    links = {row.object_id: row for row in ExternalIdentity.objects.for_org(organization).filter(
        provider=GHL, content_type=ct, object_id__in=[a.pk for a in appointments])}
    out = []
    for appt in appointments:
        tz = calendar_zone(appt.calendar)
        out.append({
            "appointment_id": appt.pk, "ghl_appointment_id": links[appt.pk].external_id if appt.pk in links else None,
            "calendar": appt.calendar.name, "calendar_id": appt.calendar_id,
            "contact": {"contact_id": appt.contact_id, "name": appt.contact.full_name},
            "title": appt.title, "starts_at": appt.starts_at.astimezone(tz).isoformat(),
            "ends_at": appt.ends_at.astimezone(tz).isoformat(), "timezone": tz.key, "status": appt.status,
            "synced_at": _synced_at(links.get(appt.pk)),
        })
    return out


def upcoming_appointments(organization, contact: Contact, *, limit: int = 10) -> list[dict[str, Any]]:
    """The contact's appointments not yet over and not cancelled/invalid, soonest first (get_contact_context)."""
    rows = (Appointment.objects.for_org(organization)
            .filter(contact=contact, ends_at__gt=timezone.now(), is_archived=False)
            .exclude(status__in=HIDDEN_STATUSES).select_related("calendar", "contact").order_by("starts_at")[:limit])
    return appointments_out(organization, list(rows))


def _time_error(exc: calendar_time.TimeInputError) -> ToolError:
    return ToolError("invalid", exc.message, field=exc.field, hint=f"Correct `{exc.field}` and call again.")


def _appointment_error(exc: AppointmentError, tool: str) -> ToolError:
    if exc.code == "conflict":
        return ToolError("conflict", exc.message, field=exc.field or "start_time",
                         hint="Offer the user one of `alternatives` and call again with it as start_time "
                              "(and a new idempotency_key), or call get_free_slots for other days.",
                         extra={"alternatives": [slot.isoformat() for slot in exc.alternatives]})
    if exc.code == "unavailable":
        if exc.field == "calendar":
            return ToolError("not_connected", exc.message, field="calendar",
                             hint="Ask the organization's owner to connect GoHighLevel on the settings page.")
        return ToolError("ghl_unavailable", exc.message, retry_after=5,
                         hint=f"Wait a few seconds and call {tool} again with the same idempotency_key: it "
                              "never books twice.")
    return ToolError(exc.code, exc.message, field=exc.field, hint={
        "not_found": "Check the appointment with list_appointments.",
        "forbidden": "This calendar's rules do not allow it; tell the user to contact the business.",
    }.get(exc.code, f"Correct `{exc.field}` and call again." if exc.field else None))


# -- resolution --------------------------------------------------------------------------------------------------
def _calendars(organization):
    return Calendar.objects.for_org(organization).filter(is_archived=False)


def calendar_resolve(*, organization, ref: str) -> Calendar:
    """One calendar of the organization for a name (fuzzy), a calendar_id or a GHL calendar id."""
    query = str(ref).strip()
    calendars = _calendars(organization)
    if query.isdigit() and len(query) <= LOCAL_ID_MAX_DIGITS:
        found = calendars.filter(pk=int(query)).first()
        if found:
            return found
    if GHL_ID.match(query):
        ct = ContentType.objects.get_for_model(Calendar)
        ids = ExternalIdentity.objects.for_org(organization).filter(
            provider=GHL, content_type=ct, external_id=query).values_list("object_id", flat=True)
        found = calendars.filter(pk__in=list(ids)).first()
        if found:
            return found
    variants = query_variants(query)
    exact = [c for c in calendars if fold(c.name) == fold(query)]
    scored = exact and [(100.0, c) for c in exact] or sorted(
        ((name_score(variants, c.name), c) for c in calendars), key=lambda pair: (-pair[0], pair[1].pk))
    scored = [(s, c) for s, c in scored if s >= CALENDAR_MATCH_THRESHOLD]
    if not scored:
        names = ", ".join(repr(c.name) for c in calendars[:20]) or "none"
        raise ToolError("not_found", f"No calendar matches “{query}”.", field="calendar",
                        hint=f"Use one of the calendars list_calendars shows: {names}.")
    close = [c for s, c in scored if s >= scored[0][0] - 5]
    if len(close) > 1:
        raise ToolError("ambiguous", f"{len(close)} calendars match “{query}” about equally well.", field="calendar",
                        candidates=[{"calendar_id": c.pk, "name": c.name} for c in close[:5]],
                        hint="Call again with the right calendar_id.")
    return scored[0][1]


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ToolError("invalid", f"`{field}`: “{value}” is not a date.", field=field,
                        hint="Write it as YYYY-MM-DD, e.g. 2027-03-16.") from None


def appointment_resolve(*, organization, ref) -> Appointment:
    """One appointment for a local id, a GHL appointment id, or a contact plus a date (exactly one that day)."""
    rows = Appointment.objects.for_org(organization).filter(is_archived=False).select_related("calendar", "contact")
    calendar = None
    who_field = "appointment"
    if isinstance(ref, dict):
        who, day, who_field = ref["contact"], _day(ref["date"], "appointment.date"), "appointment.contact"
        if ref.get("calendar"):
            try:
                calendar = calendar_resolve(organization=organization, ref=ref["calendar"])
            except ToolError as exc:
                raise exc.within("appointment.calendar") from None
    else:
        query = str(ref).strip()
        if query.isdigit() and len(query) <= LOCAL_ID_MAX_DIGITS:
            found = rows.filter(pk=int(query)).first()
            if found:
                return found
        if GHL_ID.match(query):
            ct = ContentType.objects.get_for_model(Appointment)
            ids = ExternalIdentity.objects.for_org(organization).filter(
                provider=GHL, content_type=ct, external_id=query).values_list("object_id", flat=True)
            found = rows.filter(pk__in=list(ids)).first()
            if found:
                return found
        match = _TRAILING_DATE.match(query)
        if not match:
            raise ToolError("not_found", f"No appointment is “{query}”.", field="appointment",
                            hint="Give its appointment_id (list_appointments shows them) or a contact plus a date, "
                                 "e.g. \"Maria Lopez 2027-03-16\".")
        who, day = match["who"], _day(match["day"], "appointment")
    try:
        person = contact_resolve(organization=organization, ref=who).contact
    except ToolError as exc:
        raise exc.within(who_field) from None
    # Rows around the date in any zone, then kept when the date is theirs in their calendar's zone.
    near = rows.filter(contact=person, starts_at__gte=datetime.combine(day - timedelta(days=1), datetime.min.time(),
                                                                       tzinfo=calendar_time.UTC),
                       starts_at__lt=datetime.combine(day + timedelta(days=2), datetime.min.time(),
                                                      tzinfo=calendar_time.UTC))
    if calendar is not None:
        near = near.filter(calendar=calendar)
    that_day = [a for a in near if a.starts_at.astimezone(calendar_zone(a.calendar)).date() == day]
    live = [a for a in that_day if a.status not in HIDDEN_STATUSES] or that_day
    if not live:
        raise ToolError("not_found", f"{person.full_name} has no appointment on {day.isoformat()}.",
                        field="appointment", hint="Call list_appointments for this contact to see their dates.")
    if len(live) > 1:
        raise ToolError("ambiguous", f"{person.full_name} has {len(live)} appointments on {day.isoformat()}.",
                        field="appointment", candidates=appointments_out(organization, live[:5]),
                        hint="Call again with the right appointment_id.")
    return live[0]


def _connected_require(calendar: Calendar, tool: str) -> None:
    """What the booking commands check first, for a dry run (which calls none of them): a connected calendar system
    (GoHighLevel) owns the calendar, else `not_connected`, the answer the real call would give."""
    if calendar_backend_for(calendar) is None:
        raise _appointment_error(AppointmentUnavailable(
            f"Calendar {calendar.name!r} is not connected to a calendar system right now.", field="calendar"), tool)


def _contact_in_ghl(ctx: ToolContext, person: Contact) -> None:
    """A contact just created here may still be on its way to GHL: wait for it (bounded) before booking."""
    if _external_ids(ctx.organization, Contact, [person.pk]):
        return
    push_wait(obj=person, since=person.created_at)


# -- reads -------------------------------------------------------------------------------------------------------
def list_calendars(ctx: ToolContext) -> dict[str, Any]:
    calendars = list(_calendars(ctx.organization).order_by("name", "id"))
    ids = _external_ids(ctx.organization, Calendar, [c.pk for c in calendars])
    out = [calendar_out(c, ids.get(c.pk)) for c in calendars]
    return {"calendars": out, "count": len(out)}


def get_free_slots(ctx: ToolContext, *, calendar: str, start_date: str | None = None, end_date: str | None = None,
                   timezone: str | None = None, part_of_day: str | None = None,
                   when: str | None = None) -> dict[str, Any]:
    cal = calendar_resolve(organization=ctx.organization, ref=calendar)
    first = _day(start_date, "start_date")
    last = _day(end_date, "end_date") if end_date else first
    said = None
    if when:
        try:
            window = when_window(when, tz=calendar_zone(cal))
        except WhenError as exc:
            raise ToolError("invalid", str(exc), field="when",
                            hint="Say e.g. \"next Tuesday afternoon\", \"tomorrow morning\", \"Friday\", or give "
                                 "start_date/end_date yourself.") from None
        first, last = window.start_date, window.end_date
        part_of_day = part_of_day or window.part_of_day
        said = {"when": when, "start_date": first.isoformat(), "end_date": last.isoformat(),
                "part_of_day": part_of_day}
    if last < first:
        raise ToolError("invalid", "end_date is before start_date.", field="end_date",
                        hint="Give an end_date on or after start_date.")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ToolError("invalid", f"At most {MAX_RANGE_DAYS} days at a time.", field="end_date",
                        hint=f"Ask for {MAX_RANGE_DAYS} days or fewer, then the next ones.")
    try:
        slots = calendar_free_slots(organization=ctx.organization, calendar=cal, start_date=first, end_date=last,
                                    timezone=timezone, part_of_day=part_of_day)
    except calendar_time.TimeInputError as exc:
        raise _time_error(exc) from None
    except CalendarUnavailable as exc:
        raise ToolError("not_connected", str(exc), field="calendar",
                        hint="Ask the organization's owner to connect GoHighLevel on the settings page.") from None
    except BackendError as exc:
        raise ToolError("ghl_unavailable", f"GoHighLevel did not answer ({exc}).", retry_after=5,
                        hint="Wait a few seconds and call get_free_slots again.") from None
    days = slots.as_iso()
    result = {"calendar": {"calendar_id": cal.pk, "name": cal.name, "timezone": cal.timezone or "UTC",
                           "slot_duration_minutes": cal.slot_duration_minutes},
              "timezone": slots.timezone, "start_date": first.isoformat(), "end_date": last.isoformat(),
              "days": days, "count": sum(len(v) for v in days.values())}
    if said:
        result["interpreted"] = said
    return result


def list_appointments(ctx: ToolContext, *, contact: str | None = None, calendar: str | None = None,
                      start_date: str | None = None, end_date: str | None = None,
                      status: str | None = None) -> dict[str, Any]:
    org = ctx.organization
    rows = Appointment.objects.for_org(org).filter(is_archived=False).select_related("calendar", "contact")
    resolved = {}
    cal = None
    if contact:
        person = contact_resolve(organization=org, ref=contact).contact
        ctx.concerns(person)
        rows = rows.filter(contact=person)
        resolved["contact"] = {"contact_id": person.pk, "name": person.full_name}
    if calendar:
        cal = calendar_resolve(organization=org, ref=calendar)
        rows = rows.filter(calendar=cal)
        resolved["calendar"] = {"calendar_id": cal.pk, "name": cal.name}
    # Without a calendar, dates are the business's: its location's zone, as get_business_context and the runner say.
    tz = calendar_zone(cal) if cal else organization_zone(org)
    if start_date or end_date:
        first = _day(start_date, "start_date") if start_date else _day(end_date, "end_date")
        last = _day(end_date, "end_date") if end_date else first
        try:
            start, end = calendar_time.local_day_range(tz=tz, start_date=first, end_date=last)
        except calendar_time.TimeInputError as exc:
            raise _time_error(exc) from None
        rows = rows.filter(starts_at__gte=start, starts_at__lt=end)
    else:
        rows = rows.filter(ends_at__gt=timezone.now())
    if status:
        rows = rows.filter(status=status)
    elif not (start_date or end_date):
        rows = rows.exclude(status__in=HIDDEN_STATUSES)
    found = list(rows.order_by("starts_at", "id")[:LIST_LIMIT + 1])
    out = appointments_out(org, found[:LIST_LIMIT])
    return {"appointments": out, "count": len(out), "truncated": len(found) > LIST_LIMIT,
            "dates_in": tz.key, **({"resolved": resolved} if resolved else {})}


# -- writes ------------------------------------------------------------------------------------------------------
def _written(ctx: ToolContext, result, *, action: str) -> dict[str, Any]:
    appt = result.appointment
    if result.external_id:
        ctx.ghl_refs.append(result.external_id)
    status = "existing" if result.found_existing and action == "book" else \
        "unchanged" if result.found_existing else "confirmed"
    if result.replayed:
        status = "confirmed"
    ctx.outcome = status
    return {"status": status, "appointment": appointments_out(ctx.organization, [appt])[0]}


def _dry_run_out(ctx: ToolContext, *, would: str, calendar: Calendar, contact: Contact, starts_at: datetime,
                 ends_at: datetime, appointment: Appointment | None = None, note: str) -> dict[str, Any]:
    ctx.outcome = "dry_run"
    tz = calendar_zone(calendar)
    out = {"status": "dry_run", "would": would, "note": note,
           "calendar": {"calendar_id": calendar.pk, "name": calendar.name, "timezone": tz.key},
           "contact": {"contact_id": contact.pk, "name": contact.full_name},
           "starts_at": starts_at.astimezone(tz).isoformat(), "ends_at": ends_at.astimezone(tz).isoformat()}
    if appointment is not None:
        out["appointment"] = appointments_out(ctx.organization, [appointment])[0]
    return out


def _start(calendar: Calendar, start_time: str) -> datetime:
    try:
        starts_at = calendar_time.parse_start_time(start_time, tz=calendar_zone(calendar))
    except calendar_time.TimeInputError as exc:
        raise _time_error(exc) from None
    if starts_at <= timezone.now():
        raise ToolError("invalid", "start_time is in the past.", field="start_time",
                        hint="Pick a future slot from get_free_slots.")
    return starts_at


_DRY_NOTE = ("Nothing was sent to GoHighLevel. The real call re-checks with GoHighLevel that the time is free "
             "and answers `conflict` with the nearest free slots if it is not.")


def book_appointment(ctx: ToolContext, *, contact: str, calendar: str, start_time: str, title: str = "",
                     notes: str = "") -> dict[str, Any]:
    person = contact_resolve(organization=ctx.organization, ref=contact).contact
    ctx.concerns(person)
    cal = calendar_resolve(organization=ctx.organization, ref=calendar)
    if not cal.is_active:
        raise ToolError("invalid", f"Calendar {cal.name!r} is not taking bookings.", field="calendar",
                        hint="Pick another calendar from list_calendars.")
    starts_at = _start(cal, start_time)
    if ctx.dry_run:
        _connected_require(cal, "book_appointment")
        return _dry_run_out(ctx, would="book", calendar=cal, contact=person, starts_at=starts_at,
                            ends_at=starts_at + timedelta(minutes=cal.slot_duration_minutes), note=_DRY_NOTE)
    _contact_in_ghl(ctx, person)
    try:
        result = appointment_book(organization=ctx.organization, calendar=cal, contact=person, start_time=starts_at,
                                  title=title, notes=notes)
    except AppointmentError as exc:
        raise _appointment_error(exc, "book_appointment") from None
    return _written(ctx, result, action="book")


def reschedule_appointment(ctx: ToolContext, *, appointment, start_time: str) -> dict[str, Any]:
    appt = appointment_resolve(organization=ctx.organization, ref=appointment)
    ctx.concerns(appt.contact_id)
    cal = appt.calendar
    if not cal.allow_reschedule:
        raise ToolError("forbidden", f"Calendar {cal.name!r} does not allow rescheduling.", field="appointment",
                        hint="Tell the user to contact the business, or cancel and book anew if allowed.")
    if appt.status == Appointment.Status.CANCELLED:
        raise ToolError("invalid", "A cancelled appointment cannot be moved: book a new one.", field="appointment",
                        hint="Call book_appointment instead.")
    starts_at = _start(cal, start_time)
    if ctx.dry_run:
        _connected_require(cal, "reschedule_appointment")
        return _dry_run_out(ctx, would="reschedule", calendar=cal, contact=appt.contact, starts_at=starts_at,
                            ends_at=starts_at + (appt.ends_at - appt.starts_at), appointment=appt, note=_DRY_NOTE)
    try:
        result = appointment_reschedule(organization=ctx.organization, appointment=appt, start_time=starts_at)
    except AppointmentError as exc:
        raise _appointment_error(exc, "reschedule_appointment") from None
    return _written(ctx, result, action="reschedule")


def cancel_appointment(ctx: ToolContext, *, appointment) -> dict[str, Any]:
    appt = appointment_resolve(organization=ctx.organization, ref=appointment)
    ctx.concerns(appt.contact_id)
    cal = appt.calendar
    if not cal.allow_cancellation:
        raise ToolError("forbidden", f"Calendar {cal.name!r} does not allow cancelling.", field="appointment",
                        hint="Tell the user to contact the business.")
    if ctx.dry_run:
        _connected_require(cal, "cancel_appointment")
        if appt.status != Appointment.Status.CANCELLED and appt.ends_at <= timezone.now():
            raise ToolError("invalid", "This appointment is over; it can no longer be cancelled.",
                            field="appointment")
        return _dry_run_out(ctx, would="cancel" if appt.status != Appointment.Status.CANCELLED else "nothing",
                            calendar=cal, contact=appt.contact, starts_at=appt.starts_at, ends_at=appt.ends_at,
                            appointment=appt, note="Nothing was sent to GoHighLevel; the real call cancels it there "
                                                   "(GoHighLevel keeps it with status cancelled).")
    try:
        result = appointment_cancel(organization=ctx.organization, appointment=appt)
    except AppointmentError as exc:
        raise _appointment_error(exc, "cancel_appointment") from None
    return _written(ctx, result, action="cancel")


# -- declarations ------------------------------------------------------------------------------------------------
_WRITE_NOTE = ("The change is made in GoHighLevel before this answers (`status: confirmed`). A retry with the "
               "same idempotency_key, or after a timeout, never books twice: GoHighLevel is asked first for the "
               "booking this call would make. Pass `dry_run: true` to check it without sending anything. Errors: "
               "`conflict` (the time is not free: `alternatives` holds the nearest free slots), `not_found`, "
               "`ambiguous` (pick one of `candidates`), `forbidden` (the calendar's rules), `ghl_unavailable` "
               "(retry with the same key), `not_connected` (GoHighLevel is not connected for this calendar; a dry "
               "run says so too).")

registry.register(Tool(
    name="list_calendars", family="calendar", title="List calendars",
    description="The organization's calendars with their time zone, slot length and interval, and whether "
                "rescheduling/cancelling is allowed. Call it to learn the calendar names the other calendar tools "
                "take.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {}},
    output_schema={"type": "object", "required": ["calendars", "count"], "properties": {
        "calendars": {"type": "array", "items": {"type": "object"}}, "count": {"type": "integer"}}},
    fn=list_calendars,
))
registry.register(Tool(
    name="get_free_slots", family="calendar", title="Free slots",
    description="Bookable start times of a calendar from GoHighLevel, per local day, as ISO times with their "
                "offset. Dates are read in the calendar's time zone; pass `timezone` (the customer's IANA zone) to "
                "get the times in it. `part_of_day` keeps morning (before 12), afternoon (12-17) or evening. "
                "`when` takes the customer's words (\"next Tuesday afternoon\", \"tomorrow\", \"this Friday "
                "morning\") and sets the dates and part of day from them in the calendar's zone, overriding "
                "start_date/end_date; `interpreted` says how it was read. Long ranges are fetched in 31-day "
                f"pieces (at most {MAX_RANGE_DAYS} days).",
    input_schema={"type": "object", "additionalProperties": False, "required": ["calendar", "start_date"],
                  "properties": {
                      "calendar": CALENDAR_REF, "start_date": DATE,
                      "end_date": {**DATE, "description": "Last date, YYYY-MM-DD (default start_date)."},
                      "timezone": {"type": "string", "maxLength": 64,
                                   "description": "IANA zone to show the times in, e.g. Europe/Madrid."},
                      "part_of_day": {"type": "string", "enum": ["morning", "afternoon", "evening"]},
                      "when": {"type": "string", "maxLength": 100,
                               "description": "The customer's words for the day, e.g. \"next Tuesday afternoon\"."},
                  }},
    output_schema={"type": "object", "required": ["days", "timezone", "count"], "properties": {
        "calendar": {"type": "object"}, "timezone": {"type": "string"}, "start_date": {"type": "string"},
        "end_date": {"type": "string"}, "count": {"type": "integer"}, "interpreted": {"type": "object"},
        "days": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                 "description": "YYYY-MM-DD -> [ISO start times]"}}},
    fn=get_free_slots,
))
registry.register(Tool(
    name="book_appointment", family="calendar", writes=True, title="Book an appointment",
    description=f"Book a contact on a calendar at a start time (a slot from get_free_slots). {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact", "calendar", "start_time"],
                  "properties": {"contact": CONTACT_REF, "calendar": CALENDAR_REF, "start_time": START_TIME,
                                 "title": {"type": "string", "maxLength": 255},
                                 "notes": {"type": "string", "maxLength": 5000}}},
    output_schema=WRITE_OUT, fn=book_appointment,
))
registry.register(Tool(
    name="reschedule_appointment", family="calendar", writes=True, title="Reschedule an appointment",
    description=f"Move an appointment to another start time, keeping its length. {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["appointment", "start_time"],
                  "properties": {"appointment": APPOINTMENT_REF, "start_time": START_TIME}},
    output_schema=WRITE_OUT, fn=reschedule_appointment,
))
registry.register(Tool(
    name="cancel_appointment", family="calendar", writes=True, destructive=True, title="Cancel an appointment",
    description="Cancel an appointment in GoHighLevel (it stays there with status cancelled and its slot becomes "
                "free). Destructive: confirm with the user first, or call with `dry_run: true` to see what would "
                f"be cancelled. {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["appointment"],
                  "properties": {"appointment": APPOINTMENT_REF}},
    output_schema=WRITE_OUT, fn=cancel_appointment,
))
registry.register(Tool(
    name="list_appointments", family="calendar", title="List appointments",
    description="Appointments from the local mirror, soonest first (at most 50). Without dates: the ones not yet "
                "over, cancelled and invalid left out. Dates are read in the calendar's zone, or without `calendar` "
                "in the business's (its GHL location's, as get_business_context says); `dates_in` names it. "
                "`status` is one of new, confirmed, cancelled, showed, noshow, invalid.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        "contact": CONTACT_REF, "calendar": CALENDAR_REF, "start_date": DATE, "end_date": DATE,
        "status": {"type": "string", "enum": list(Appointment.Status.values)},
    }},
    output_schema={"type": "object", "required": ["appointments", "count"], "properties": {
        "appointments": {"type": "array", "items": APPOINTMENT_OUT}, "count": {"type": "integer"},
        "truncated": {"type": "boolean"}, "dates_in": {"type": "string"}, "resolved": {"type": "object"}}},
    fn=list_appointments,
))

__all__ = ["appointment_resolve", "calendar_resolve", "upcoming_appointments"]
