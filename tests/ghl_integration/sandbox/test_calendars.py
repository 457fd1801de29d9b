from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ghl_sandbox import constants as c

LOC = c.DEMO_LOCATION_ID
TZ = ZoneInfo("America/New_York")


def _next_monday() -> datetime:
    today = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def test_list_and_get_calendar(api):
    cals = api.get("/calendars/", params={"locationId": LOC}).json()["calendars"]
    assert [cal["id"] for cal in cals] == [c.DEMO_CALENDAR_ID]
    got = api.get(f"/calendars/{c.DEMO_CALENDAR_ID}").json()["calendar"]
    assert got["slotDuration"] == 30 and got["openHours"][0]["daysOfTheWeek"] == [1, 2, 3, 4, 5]


def test_free_slots_keyed_by_date_from_open_hours(api):
    monday = _next_monday()
    resp = api.get(f"/calendars/{c.DEMO_CALENDAR_ID}/free-slots",
                   params={"startDate": _ms(monday), "endDate": _ms(monday + timedelta(days=7)) - 1})
    body = resp.json()
    days = sorted(k for k in body if k != "traceId")
    assert days == [(monday + timedelta(days=i)).date().isoformat() for i in range(5)]  # Mon-Fri only
    slots = body[days[0]]["slots"]
    assert len(slots) == 16  # 9:00-17:00 in 30-minute slots
    assert datetime.fromisoformat(slots[0]) == monday.replace(hour=9)


def test_free_slots_reject_more_than_31_days(api):
    monday = _next_monday()
    resp = api.get(f"/calendars/{c.DEMO_CALENDAR_ID}/free-slots",
                   params={"startDate": _ms(monday), "endDate": _ms(monday + timedelta(days=32))})
    assert resp.status_code == 400 and isinstance(resp.json()["message"], str)


def test_appointment_lifecycle_and_booked_slot_disappears(api):
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Cal"}).json()["contact"]
    start = _next_monday().replace(hour=10)

    created = api.post("/calendars/events/appointments", json={
        "calendarId": c.DEMO_CALENDAR_ID, "locationId": LOC, "contactId": contact["id"],
        "startTime": start.isoformat(), "title": "Consult"})
    clash = api.post("/calendars/events/appointments", json={
        "calendarId": c.DEMO_CALENDAR_ID, "locationId": LOC, "contactId": contact["id"],
        "startTime": start.isoformat()})

    assert created.status_code == 200
    appt = created.json()
    assert appt["calendarId"] == c.DEMO_CALENDAR_ID and "event" not in appt and appt["id"]
    assert datetime.fromisoformat(appt["endTime"]) - datetime.fromisoformat(appt["startTime"]) == timedelta(minutes=30)
    assert clash.status_code == 400
    day = start.date().isoformat()
    slots = api.get(f"/calendars/{c.DEMO_CALENDAR_ID}/free-slots",
                    params={"startDate": _ms(start.replace(hour=0)), "endDate": _ms(start.replace(hour=23))}).json()
    assert start.isoformat() not in slots[day]["slots"] and len(slots[day]["slots"]) == 15

    event = api.get(f"/calendars/events/appointments/{appt['id']}").json()["event"]
    moved = api.put(f"/calendars/events/appointments/{appt['id']}",
                    json={"startTime": start.replace(hour=11).isoformat()})
    listed = api.get("/calendars/events", params={"locationId": LOC, "calendarId": c.DEMO_CALENDAR_ID,
                                                  "startTime": _ms(start.replace(hour=0)),
                                                  "endTime": _ms(start.replace(hour=23))}).json()["events"]
    deleted = api.delete(f"/calendars/events/{appt['id']}", json={})

    assert event["title"] == "Consult" and event["contactId"] == contact["id"]
    assert datetime.fromisoformat(moved.json()["startTime"]) == start.replace(hour=11)
    assert [e["id"] for e in listed] == [appt["id"]]
    assert deleted.status_code == 201 and deleted.json()["succeeded"] is True
    assert api.get(f"/calendars/events/appointments/{appt['id']}").status_code == 404


def test_events_need_a_calendar_user_or_group(api):
    resp = api.get("/calendars/events", params={"locationId": LOC, "startTime": 0, "endTime": 1})
    assert resp.status_code == 422
