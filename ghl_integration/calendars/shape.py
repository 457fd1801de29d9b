"""GHL's calendar and appointment objects as plain values for `crm` (REFERENCE.md §f, `CalendarDTO`)."""
from datetime import datetime

from crm.calendar_backend import RemoteAppointment

from ..timestamps import parse_ghl_time, require_ghl_time

UNIT_MINUTES = {"mins": 1, "hours": 60}


def _minutes(value, unit: str | None, default: int) -> int:
    try:
        return int(float(value) * UNIT_MINUTES.get(unit or "mins", 1)) if value else default
    except (TypeError, ValueError):
        return default


def _hhmm(hour, minute) -> str:
    return f"{int(hour or 0):02d}:{int(minute or 0):02d}"


def calendar_fields_from_ghl(calendar: dict, *, timezone: str) -> dict:
    """`crm.services.calendars.calendar_upsert_from_remote` fields of one GHL calendar. GHL calendars have no
    zone of their own: their open hours are read in the location's ``timezone``."""
    duration = _minutes(calendar.get("slotDuration"), calendar.get("slotDurationUnit"), 30)
    open_hours = [
        {"days": sorted(int(d) for d in block.get("daysOfTheWeek") or []),
         "hours": [{"open": _hhmm(h.get("openHour"), h.get("openMinute")),
                    "close": _hhmm(h.get("closeHour"), h.get("closeMinute"))} for h in block.get("hours") or []]}
        for block in calendar.get("openHours") or []
    ]
    team = [{"external_id": m["userId"], "priority": m.get("priority", 0.5), "is_primary": bool(m.get("isPrimary"))}
            for m in calendar.get("teamMembers") or [] if m.get("userId")]
    return {
        "name": (calendar.get("name") or "Calendar")[:200],
        "description": calendar.get("description") or "",
        "calendar_type": calendar.get("calendarType") or "",
        "timezone": timezone,
        "slot_duration_minutes": duration,
        "slot_interval_minutes": _minutes(calendar.get("slotInterval"), calendar.get("slotIntervalUnit"), duration),
        "open_hours": open_hours,
        "team_members": team,
        "allow_reschedule": calendar.get("allowReschedule", True) is not False,
        "allow_cancellation": calendar.get("allowCancellation", True) is not False,
        "is_active": calendar.get("isActive", True) is not False,
    }


def _notes(event: dict) -> str | None:
    # We write notes as GHL's `description` (its create body has no notes); GET and the events list carry both,
    # an Appointment* webhook only `notes`, so an empty `notes` there says nothing about ours.
    if "description" in event:
        return event.get("notes") or event.get("description") or ""
    return event.get("notes") or None


def remote_appointment_from_ghl(event: dict, *, observed_at: datetime | None = None) -> RemoteAppointment:
    """A GHL event (GET, list, create/update answer or webhook `appointment`) as a `RemoteAppointment`; times
    keep GHL's offset. `dateUpdated` (absent from create/update answers) is the watermark."""
    return RemoteAppointment(
        external_id=event["id"],
        contact_external_id=event.get("contactId") or "",
        starts_at=require_ghl_time(event.get("startTime"), field="startTime"),
        ends_at=require_ghl_time(event.get("endTime"), field="endTime"),
        status=event.get("appointmentStatus") or "new",
        title=event.get("title") or "",
        notes=_notes(event),
        address=event.get("address") or "",
        updated_at=parse_ghl_time(event.get("dateUpdated")),
        observed_at=observed_at,
    )
