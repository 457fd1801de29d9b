"""Calendars, free slots and appointments through the client against the sandbox (REFERENCE.md §f)."""
from datetime import UTC, datetime, timedelta

import pytest

from ghl_integration.client import GhlNotFound
from ghl_sandbox import constants as c


def _window(days=14):
    start = datetime.now(UTC) + timedelta(days=1)
    return start, start + timedelta(days=days)


def test_list_and_get_calendars(ghl):
    calendars = ghl.calendars.list()
    one = ghl.calendars.get(c.DEMO_CALENDAR_ID)

    assert c.DEMO_CALENDAR_ID in [cal["id"] for cal in calendars]
    assert one["id"] == c.DEMO_CALENDAR_ID and one["locationId"] == c.DEMO_LOCATION_ID


def test_free_slots_and_the_31_day_limit(ghl, recorder):
    start, end = _window()

    slots = ghl.calendars.free_slots(c.DEMO_CALENDAR_ID, start=start, end=end, timezone="America/New_York")
    sent = len(recorder.responses)
    with pytest.raises(ValueError, match="31 days"):
        ghl.calendars.free_slots(c.DEMO_CALENDAR_ID, start=start, end=start + timedelta(days=32))

    assert slots and all(len(day) == 10 for day in slots)  # only YYYY-MM-DD keys (no traceId)
    assert all(isinstance(s, str) for day in slots.values() for s in day)
    assert len(recorder.responses) == sent  # refused by the client: never sent


def test_appointment_create_get_update_events_delete(ghl):
    contact = ghl.contacts.create({"firstName": "Abe", "email": "abe@example.com"})
    start, end = _window()
    slots = ghl.calendars.free_slots(c.DEMO_CALENDAR_ID, start=start, end=end)
    first, second = [s for day in sorted(slots) for s in slots[day]][:2]

    created = ghl.calendars.create_appointment({"calendarId": c.DEMO_CALENDAR_ID, "contactId": contact["id"],
                                                "startTime": first, "title": "Consultation"})
    got = ghl.calendars.get_appointment(created["id"])
    moved = ghl.calendars.update_appointment(created["id"], {"startTime": second, "appointmentStatus": "confirmed"})
    events = ghl.calendars.events(start=start, end=end, calendar_id=c.DEMO_CALENDAR_ID)
    after = ghl.calendars.free_slots(c.DEMO_CALENDAR_ID, start=start, end=end)
    assert ghl.calendars.delete_event(created["id"]) is True

    assert created["contactId"] == contact["id"] and created["calendarId"] == c.DEMO_CALENDAR_ID
    assert got["id"] == created["id"] and got["title"] == "Consultation"
    assert datetime.fromisoformat(moved["startTime"]) == datetime.fromisoformat(second)
    assert [e["id"] for e in events] == [created["id"]]
    booked = [s for day in after.values() for s in day]
    assert second not in booked and first in booked
    with pytest.raises(GhlNotFound):
        ghl.calendars.get_appointment(created["id"])
