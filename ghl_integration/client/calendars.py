"""Calendars, free slots and appointments (``Version: 2021-04-15``). REFERENCE.md §f.

Times in queries are epoch milliseconds; pass ``datetime`` (aware) or ints. Appointment bodies use ISO 8601 with
an offset (``2021-06-23T03:30:00+05:30``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .base import VERSION_2021_04_15, Resource, seg
from .types import Calendar, CalendarEvent

DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_FREE_SLOTS_RANGE = timedelta(days=31)


def to_epoch_ms(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime or epoch milliseconds")
        return int(value.timestamp() * 1000)
    return int(value)


class CalendarsApi(Resource):
    version = VERSION_2021_04_15

    def list(self, *, group_id: str | None = None, show_drafted: bool | None = None) -> list[Calendar]:
        """``GET /calendars/`` → the location's calendars."""
        params = {
            "locationId": self.location_id,
            "groupId": group_id,
            "showDrafted": None if show_drafted is None else str(show_drafted).lower(),
        }
        return list(self._get("/calendars/", params).get("calendars") or [])

    def get(self, calendar_id: str) -> Calendar:
        """``GET /calendars/{id}`` → the calendar."""
        return self._get(f"/calendars/{seg(calendar_id)}")["calendar"]

    def free_slots(
        self,
        calendar_id: str,
        *,
        start: datetime | int,
        end: datetime | int,
        timezone: str | None = None,
        user_id: str | None = None,
        user_ids: Sequence[str] | None = None,
    ) -> dict[str, list[str]]:
        """``GET /calendars/{id}/free-slots`` → ``{"YYYY-MM-DD": ["<ISO slot start>", ...]}``.

        GHL keys the body by date and may add ``traceId`` (or, in the 2025 spec, ``_dates_``): only keys shaped
        ``YYYY-MM-DD`` are kept. The range may not exceed 31 days (checked here, GHL rejects it too).
        """
        start_ms, end_ms = to_epoch_ms(start), to_epoch_ms(end)
        if end_ms <= start_ms:
            raise ValueError("end must be after start")
        if end_ms - start_ms > MAX_FREE_SLOTS_RANGE.total_seconds() * 1000:
            raise ValueError("free-slots range may not exceed 31 days")
        params = {
            "startDate": start_ms,
            "endDate": end_ms,
            "timezone": timezone,
            "userId": user_id,
            "userIds": list(user_ids) if user_ids else None,
        }
        data = self._get(f"/calendars/{seg(calendar_id)}/free-slots", params)
        slots: dict[str, list[str]] = {}
        for key, value in data.items():
            if DATE_KEY.match(key) and isinstance(value, dict):
                slots[key] = list(value.get("slots") or [])
        return slots

    def events(
        self,
        *,
        start: datetime | int,
        end: datetime | int,
        calendar_id: str | None = None,
        user_id: str | None = None,
        group_id: str | None = None,
    ) -> list[CalendarEvent]:
        """``GET /calendars/events`` → events in the window. GHL needs one of calendar, user or group."""
        if not (calendar_id or user_id or group_id):
            raise ValueError("events needs calendar_id, user_id or group_id")
        params = {
            "locationId": self.location_id,
            "startTime": str(to_epoch_ms(start)),
            "endTime": str(to_epoch_ms(end)),
            "calendarId": calendar_id,
            "userId": user_id,
            "groupId": group_id,
        }
        return list(self._get("/calendars/events", params).get("events") or [])

    def get_appointment(self, event_id: str) -> CalendarEvent:
        """``GET /calendars/events/appointments/{id}`` → the event (unwrapped from ``{"event": ...}``)."""
        data = self._get(f"/calendars/events/appointments/{seg(event_id)}")
        return data.get("event", data) if isinstance(data.get("event"), dict) else data

    def create_appointment(self, appointment: Mapping[str, Any]) -> CalendarEvent:
        """``POST /calendars/events/appointments`` (``calendarId``, ``contactId``, ``startTime`` required) → the
        appointment object (GHL returns it unwrapped, status 200). Not retried after a read timeout."""
        body = {**appointment, "locationId": self.location_id}
        return self._send("POST", "/calendars/events/appointments", body)

    def update_appointment(self, event_id: str, changes: Mapping[str, Any]) -> CalendarEvent:
        """``PUT /calendars/events/appointments/{id}`` → the appointment (recurring: pass the ``masterEventId``)."""
        body = {k: v for k, v in changes.items() if k not in ("locationId", "contactId")}
        return self._send("PUT", f"/calendars/events/appointments/{seg(event_id)}", body)

    def delete_event(self, event_id: str) -> bool:
        """``DELETE /calendars/events/{id}`` (JSON body ``{}``, GHL answers 201 ``{"succeeded": true}``)."""
        data = self._send("DELETE", f"/calendars/events/{seg(event_id)}", {})
        return bool(data.get("succeeded", data.get("succeded", True)))
