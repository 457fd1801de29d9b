"""Calendars, free slots and appointments (`Version: 2021-04-15`, REFERENCE.md §f).

Free slots are computed by `ghl_sandbox.slots` from the calendar's rules in the location's timezone (open hours,
duration, interval, buffers, notice, booking window, per-slot/per-day limits, team members) minus booked (not
cancelled) appointments; ranges over 31 days are refused; creating or moving an appointment onto a time that is
not a free slot is refused with GHL's 400 unless ``ignoreFreeSlotValidation``.
"""
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .. import constants as c
from .. import slots
from ..app import route
from ..auth import public
from ..errors import bad_request, new_id, now_ms, parse_iso_ms, unprocessable

V = c.VERSION_2021_04_15
MAX_RANGE_MS = 31 * 86400 * 1000
SLOT_TAKEN = "The slot you have selected is no longer available."
APPOINTMENT_STATUSES = ("new", "confirmed", "cancelled", "showed", "noshow", "invalid")
WEBHOOK_FIELDS = ("id", "address", "title", "calendarId", "contactId", "groupId", "appointmentStatus",
                  "assignedUserId", "users", "notes", "source", "startTime", "endTime", "dateAdded", "dateUpdated")
RESPONSE_FIELDS = ("id", "calendarId", "locationId", "contactId", "startTime", "endTime", "title",
                   "meetingLocationType", "appointmentStatus", "assignedUserId", "address", "isRecurring", "rrule")


def _tz(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(f"Invalid timezone {name}")


def _minutes(value, unit) -> int:
    return int(value or 0) * (60 if unit == "hours" else 1)


def _booked(store, calendar_id: str, location_id: str, exclude: str | None = None) -> list[slots.Booked]:
    out = []
    for ev in store.list("appointment", location_id):
        if ev["calendarId"] == calendar_id and ev["appointmentStatus"] != "cancelled" and ev["id"] != exclude:
            users = tuple(u for u in [ev.get("assignedUserId"), *ev.get("users", [])] if u)
            out.append(slots.Booked(parse_iso_ms(ev["startTime"]), parse_iso_ms(ev["endTime"]), users))
    return out


def _location_tz(store, calendar: dict) -> ZoneInfo:
    return _tz(store.get("location", calendar["locationId"]).get("timezone"))


def free_slots(store, calendar: dict, start_ms: int, end_ms: int, out_tz: ZoneInfo,
               exclude_event: str | None = None, user_ids: tuple[str, ...] = ()) -> dict:
    """GHL's date-keyed answer: ``{"YYYY-MM-DD": {"slots": [ISO start in out_tz, ...]}}`` (dates in out_tz)."""
    starts = slots.compute(calendar, tz=_location_tz(store, calendar), start_ms=start_ms, end_ms=end_ms,
                           now_ms=now_ms(), booked=_booked(store, calendar["id"], calendar["locationId"],
                                                           exclude_event), user_ids=user_ids)
    result: dict = {}
    for s_ms in starts:
        local = datetime.fromtimestamp(s_ms / 1000, out_tz)
        result.setdefault(local.date().isoformat(), {"slots": []})["slots"].append(local.isoformat())
    return result


# -- services --------------------------------------------------------------------------------------------
def _webhook(ev: dict) -> dict:
    return {"locationId": ev["locationId"], "appointment": {k: ev.get(k) for k in WEBHOOK_FIELDS}}


def _save(store, ev: dict) -> dict:
    return store.put("appointment", ev, location_id=ev["locationId"], sort_ms=parse_iso_ms(ev["startTime"]))


def _check_slot(store, calendar: dict, start_ms: int, data: dict, exclude: str | None = None) -> None:
    """GHL validates the asked start against the calendar's free slots (no hold: two requests racing for one
    slot can both pass, as nothing in GHL's docs promises otherwise)."""
    if data.get("ignoreFreeSlotValidation"):
        return
    tz = _location_tz(store, calendar)
    booked = _booked(store, calendar["id"], calendar["locationId"], exclude)
    users = (data["assignedUserId"],) if data.get("assignedUserId") else ()
    free = slots.compute(calendar, tz=tz, start_ms=start_ms, end_ms=start_ms, now_ms=now_ms(), booked=booked,
                         user_ids=users, ignore_date_range=bool(data.get("ignoreDateRange")))
    if start_ms not in free:
        raise bad_request(SLOT_TAKEN)


def appointment_create(sandbox, location_id: str, data: dict, *, source: str = "third_party") -> dict:
    store = sandbox.store
    missing = [f for f in ("calendarId", "contactId", "startTime") if not data.get(f)]
    if missing:
        raise unprocessable(*(f"{f} should not be empty" for f in missing))
    calendar = store.get("calendar", data["calendarId"])
    if calendar is None or calendar["locationId"] != location_id:
        raise bad_request("Calendar not found")
    contact = store.get("contact", data["contactId"])
    if contact is None or contact["locationId"] != location_id:
        raise bad_request("Contact not found")
    try:
        start_ms = parse_iso_ms(data["startTime"])
        end_ms = parse_iso_ms(data["endTime"]) if data.get("endTime") else (
            start_ms + _minutes(calendar.get("slotDuration", 30), calendar.get("slotDurationUnit")) * 60_000)
    except ValueError:
        raise unprocessable("startTime must be a valid ISO 8601 date string")
    _check_slot(store, calendar, start_ms, data)
    race_ms = float(sandbox.config["faults"]["api"].get("booking_race_ms") or 0)
    if race_ms:
        time.sleep(race_ms / 1000)
    status = data.get("appointmentStatus") or ("confirmed" if calendar.get("autoConfirm", True) else "new")
    if status not in APPOINTMENT_STATUSES:
        raise unprocessable("appointmentStatus must be one of " + ", ".join(APPOINTMENT_STATUSES))
    tz = _tz(store.get("location", location_id).get("timezone"))
    now = datetime.now(UTC).astimezone(tz).isoformat(timespec="seconds")
    assigned = data.get("assignedUserId") or slots.free_member(
        calendar, start_ms, _booked(store, calendar["id"], location_id))
    ev = {"id": new_id(), "calendarId": calendar["id"], "locationId": location_id, "contactId": contact["id"],
          "title": data.get("title") or f"Appointment with {contact.get('name') or 'contact'}",
          "address": data.get("address") or "", "meetingLocationType": data.get("meetingLocationType") or "custom",
          "appointmentStatus": status, "assignedUserId": assigned, "users": [assigned] if assigned else [],
          "notes": data.get("notes") or "", "description": data.get("description") or "", "isRecurring": False,
          "rrule": None, "groupId": calendar.get("groupId") or "",
          "startTime": datetime.fromtimestamp(start_ms / 1000, tz).isoformat(),
          "endTime": datetime.fromtimestamp(end_ms / 1000, tz).isoformat(),
          "dateAdded": now, "dateUpdated": now, "assignedResources": [], "source": source,
          "createdBy": {"userId": None, "source": source}, "masterEventId": None}
    _save(store, ev)
    sandbox.dispatcher.emit("AppointmentCreate", location_id, _webhook(ev))
    return ev


def appointment_update(sandbox, ev: dict, data: dict) -> dict:
    store = sandbox.store
    if "appointmentStatus" in data and data["appointmentStatus"] not in APPOINTMENT_STATUSES:
        raise unprocessable("appointmentStatus must be one of " + ", ".join(APPOINTMENT_STATUSES))
    calendar = store.get("calendar", data.get("calendarId") or ev["calendarId"])
    if calendar is None or calendar["locationId"] != ev["locationId"]:
        raise bad_request("Calendar not found")
    tz = _tz(store.get("location", ev["locationId"]).get("timezone"))
    if data.get("startTime"):
        start_ms = parse_iso_ms(data["startTime"])
        _check_slot(store, calendar, start_ms, data, exclude=ev["id"])
        length = parse_iso_ms(ev["endTime"]) - parse_iso_ms(ev["startTime"])
        end_ms = parse_iso_ms(data["endTime"]) if data.get("endTime") else start_ms + length
        ev["startTime"] = datetime.fromtimestamp(start_ms / 1000, tz).isoformat()
        ev["endTime"] = datetime.fromtimestamp(end_ms / 1000, tz).isoformat()
    for key in ("title", "address", "appointmentStatus", "assignedUserId", "notes", "description",
                "meetingLocationType"):
        if key in data:
            ev[key] = data[key]
    ev["calendarId"] = calendar["id"]
    ev["dateUpdated"] = datetime.now(UTC).astimezone(tz).isoformat(timespec="seconds")
    _save(store, ev)
    sandbox.dispatcher.emit("AppointmentUpdate", ev["locationId"], _webhook(ev))
    return ev


def appointment_delete(sandbox, ev: dict) -> None:
    tz = _tz(sandbox.store.get("location", ev["locationId"]).get("timezone"))
    # GHL's AppointmentDelete example carries a dateUpdated later than the last update's: the delete's own time.
    ev["dateUpdated"] = datetime.now(UTC).astimezone(tz).isoformat(timespec="seconds")
    sandbox.store.delete("appointment", ev["id"])
    sandbox.dispatcher.emit("AppointmentDelete", ev["locationId"], _webhook(ev))


# -- handlers --------------------------------------------------------------------------------------------
def list_calendars(ctx):
    location_id = ctx.check_location(ctx.query.get("locationId"))
    cals = ctx.store.list("calendar", location_id)
    if ctx.query.get("groupId"):
        cals = [cal for cal in cals if cal.get("groupId") == ctx.query["groupId"]]
    return 200, {"calendars": [public(cal) for cal in cals]}


def get_calendar(ctx):
    return 200, {"calendar": public(ctx.load("calendar", ctx.params["calendarId"], "Calendar"))}


def get_free_slots(ctx):
    calendar = ctx.load("calendar", ctx.params["calendarId"], "Calendar")
    q = ctx.query
    missing = [f for f in ("startDate", "endDate") if not q.get(f)]
    if missing:
        raise unprocessable(*(f"{f} must be a number string" for f in missing))
    try:
        start_ms, end_ms = int(q["startDate"]), int(q["endDate"])
    except ValueError:
        raise unprocessable("startDate and endDate must be epoch milliseconds")
    if end_ms < start_ms:
        raise bad_request("endDate must be after startDate")
    if end_ms - start_ms > MAX_RANGE_MS:
        raise bad_request("Date range can not be more than 31 days")
    tz_name = q.get("timezone") or ctx.store.get("location", calendar["locationId"]).get("timezone")
    users = tuple(u for u in [q.get("userId"), *q.getlist("userIds"), *q.getlist("userIds[]")] if u)
    return 200, free_slots(ctx.store, calendar, start_ms, end_ms, _tz(tz_name), user_ids=users)


def list_events(ctx):
    q = ctx.query
    location_id = ctx.check_location(q.get("locationId"))
    missing = [f for f in ("startTime", "endTime") if not q.get(f)]
    if missing:
        raise unprocessable(*(f"{f} should not be empty" for f in missing))
    if not (q.get("calendarId") or q.get("userId") or q.get("groupId")):
        raise unprocessable("One of calendarId, userId or groupId is required")
    start_ms, end_ms = int(q["startTime"]), int(q["endTime"])
    events = []
    for ev in ctx.store.list("appointment", location_id):
        if q.get("calendarId") and ev["calendarId"] != q["calendarId"]:
            continue
        if q.get("userId") and q["userId"] not in ([ev.get("assignedUserId")] + ev.get("users", [])):
            continue
        if q.get("groupId") and ev.get("groupId") != q["groupId"]:
            continue
        if parse_iso_ms(ev["startTime"]) < end_ms and parse_iso_ms(ev["endTime"]) > start_ms:
            events.append(public(ev))
    return 200, {"events": events}


def create_appointment(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    ev = appointment_create(ctx.sandbox, location_id, body)
    return 200, {k: ev.get(k) for k in RESPONSE_FIELDS}


def update_appointment(ctx):
    ev = ctx.load("appointment", ctx.params["eventId"], "Appointment")
    ev = appointment_update(ctx.sandbox, ev, ctx.json())
    return 200, {k: ev.get(k) for k in RESPONSE_FIELDS}


def get_appointment(ctx):
    return 200, {"event": public(ctx.load("appointment", ctx.params["eventId"], "Appointment"))}


def delete_event(ctx):
    appointment_delete(ctx.sandbox, ctx.load("appointment", ctx.params["eventId"], "Event"))
    return 201, {"succeeded": True}


ROUTES = [
    route("GET", "/calendars/events/appointments/{eventId}", get_appointment, scope="calendars/events.readonly",
          version=V),
    route("PUT", "/calendars/events/appointments/{eventId}", update_appointment, scope="calendars/events.write",
          version=V),
    route("POST", "/calendars/events/appointments", create_appointment, scope="calendars/events.write", version=V),
    route("GET", "/calendars/events", list_events, scope="calendars/events.readonly", version=V),
    route("DELETE", "/calendars/events/{eventId}", delete_event, scope="calendars/events.write", version=V),
    route("GET", "/calendars/{calendarId}/free-slots", get_free_slots, scope="calendars.readonly", version=V),
    route("GET", "/calendars/", list_calendars, scope="calendars.readonly", version=V),
    route("GET", "/calendars/{calendarId}", get_calendar, scope="calendars.readonly", version=V),
]
