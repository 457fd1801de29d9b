"""Free slots computed from a calendar's rules, in the location's zone, across both DST changes."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ghl_sandbox import constants as c
from tests.calendar_time import dst_changes, ms, next_weekday

LOC = c.DEMO_LOCATION_ID
NY = ZoneInfo("America/New_York")
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def calendar(sandbox, **fields) -> dict:
    fields.setdefault("allowBookingFor", 0)  # no booking window: DST days may be months away
    return sandbox.control.change("calendar.create", locationId=LOC, name="Rules", **fields)["calendar"]


def hours(open_hour, close_hour, days=EVERY_DAY, open_minute=0, close_minute=0) -> list[dict]:
    return [{"daysOfTheWeek": days, "hours": [{"openHour": open_hour, "openMinute": open_minute,
                                               "closeHour": close_hour, "closeMinute": close_minute}]}]


def slots_of(api, cal_id: str, day: date, tz: ZoneInfo = NY, timezone: str | None = None, **params) -> dict:
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    resp = api.get(f"/calendars/{cal_id}/free-slots", params={"startDate": ms(start), "endDate": ms(end) - 1,
                                                             **({"timezone": timezone} if timezone else {}), **params})
    assert resp.status_code == 200, resp.text
    return {k: v["slots"] for k, v in resp.json().items() if k != "traceId"}


@pytest.mark.parametrize("change", ["spring", "fall"])
def test_office_hours_keep_their_wall_clock_on_both_dst_days(sandbox, api, change):
    # given: 09:00-17:00 every day, and the day clocks change (and the day before)
    cal = calendar(sandbox, openHours=hours(9, 17))
    day = dst_changes(NY)[change]

    # when
    before = slots_of(api, cal["id"], day - timedelta(days=1))[(day - timedelta(days=1)).isoformat()]
    on = slots_of(api, cal["id"], day)[day.isoformat()]

    # then: 16 slots each, from 09:00 local; the offset is the one in force that day
    for got, d in ((before, day - timedelta(days=1)), (on, day)):
        assert len(got) == 16
        assert [datetime.fromisoformat(s) for s in got[:2]] == [
            datetime(d.year, d.month, d.day, 9, tzinfo=NY), datetime(d.year, d.month, d.day, 9, 30, tzinfo=NY)]
        assert got[0].endswith(datetime(d.year, d.month, d.day, 9, tzinfo=NY).strftime("%z")[:3] + ":00")
    assert before[0][-6:] != on[0][-6:]


def test_a_block_across_the_spring_change_loses_the_missing_hour(sandbox, api):
    cal = calendar(sandbox, openHours=hours(0, 4))
    day = dst_changes(NY)["spring"]

    got = slots_of(api, cal["id"], day)[day.isoformat()]

    # 00:00-04:00 local is three real hours that day: 01:30 EST is followed by 03:00 EDT
    assert [s[11:16] for s in got] == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30"]
    starts = [datetime.fromisoformat(s) for s in got]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(starts, starts[1:], strict=False))


def test_a_block_across_the_fall_change_gains_the_repeated_hour(sandbox, api):
    cal = calendar(sandbox, openHours=hours(0, 4))
    day = dst_changes(NY)["fall"]

    got = slots_of(api, cal["id"], day)[day.isoformat()]

    assert len(got) == 10  # five real hours
    assert [s[11:16] for s in got].count("01:00") == 2 and [s[11:16] for s in got].count("01:30") == 2
    assert len({datetime.fromisoformat(s) for s in got}) == 10


def test_slots_in_a_customer_zone_between_the_us_and_eu_changes(sandbox, api):
    # given: New York has sprung forward, London not yet (two to three weeks a year)
    cal = calendar(sandbox, openHours=hours(9, 17))
    london = ZoneInfo("Europe/London")
    day = dst_changes(NY)["spring"] + timedelta(days=1)
    assert datetime(day.year, day.month, day.day, 12, tzinfo=london).utcoffset() == timedelta(0)

    got = slots_of(api, cal["id"], day, timezone="Europe/London")[day.isoformat()]

    # then: 09:00 New York is 13:00 in London that week, written with London's offset
    assert got[0] == f"{day.isoformat()}T13:00:00+00:00" and len(got) == 16


def test_dates_are_keyed_in_the_asked_zone(sandbox, api):
    cal = calendar(sandbox, openHours=hours(20, 23))
    day = next_weekday(NY, 0)

    got = slots_of(api, cal["id"], day, timezone="Asia/Tokyo")

    # 20:00-23:00 New York is the next morning in Tokyo
    assert list(got) == [(day + timedelta(days=1)).isoformat()]
    assert datetime.fromisoformat(got[(day + timedelta(days=1)).isoformat()][0]) == datetime(
        day.year, day.month, day.day, 20, tzinfo=NY)


def test_interval_shorter_than_duration_and_buffers(sandbox, api):
    # given: 60-minute meetings offered every 30 minutes, 15 minutes kept after each and 15 before
    cal = calendar(sandbox, openHours=hours(9, 12), slotDuration=60, slotInterval=30, slotBuffer=15, preBuffer=15)
    day = next_weekday(NY, 1)
    assert [s[11:16] for s in slots_of(api, cal["id"], day)[day.isoformat()]] == [
        "09:00", "09:30", "10:00", "10:30", "11:00"]
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Buf"}).json()["contact"]

    # when: 10:00-11:00 is booked
    booked = api.post("/calendars/events/appointments", json={
        "calendarId": cal["id"], "locationId": LOC, "contactId": contact["id"],
        "startTime": datetime(day.year, day.month, day.day, 10, tzinfo=NY).isoformat()})
    assert booked.status_code == 200, booked.text

    # then: nothing that would end after 09:45 or start before 11:15 remains
    assert slots_of(api, cal["id"], day).get(day.isoformat(), []) == []
    cal2 = calendar(sandbox, openHours=hours(9, 14), slotDuration=60, slotInterval=30, slotBuffer=15, preBuffer=15)
    api.post("/calendars/events/appointments", json={
        "calendarId": cal2["id"], "locationId": LOC, "contactId": contact["id"],
        "startTime": datetime(day.year, day.month, day.day, 10, tzinfo=NY).isoformat()})
    assert [s[11:16] for s in slots_of(api, cal2["id"], day)[day.isoformat()]] == ["11:30", "12:00", "12:30", "13:00"]


def test_minimum_notice_and_booking_window(sandbox, api):
    now = datetime.now(NY)
    cal = calendar(sandbox, openHours=hours(0, 24), slotDuration=60, allowBookingAfter=3,
                   allowBookingAfterUnit="hours", allowBookingFor=2, allowBookingForUnit="days")
    start, end = now - timedelta(days=1), now + timedelta(days=5)
    resp = api.get(f"/calendars/{cal['id']}/free-slots", params={"startDate": ms(start), "endDate": ms(end)})
    starts = sorted(datetime.fromisoformat(s) for v in resp.json().values() if isinstance(v, dict)
                    for s in v["slots"])

    assert starts[0] >= now + timedelta(hours=3) and starts[0] < now + timedelta(hours=4, minutes=1)
    assert starts[-1] <= now + timedelta(days=2)
    # a booking inside the notice is refused, unless the caller says ignoreDateRange
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Soon"}).json()["contact"]
    soon = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    body = {"calendarId": cal["id"], "locationId": LOC, "contactId": contact["id"], "startTime": soon.isoformat()}
    refused = api.post("/calendars/events/appointments", json=body)
    allowed = api.post("/calendars/events/appointments", json={**body, "ignoreDateRange": True})
    assert refused.status_code == 400 and "no longer available" in refused.json()["message"]
    assert allowed.status_code == 200


def test_per_day_limit_and_per_member_capacity(sandbox, api):
    users = [u["id"] for u in sandbox.control.objects("user") if LOC in u["roles"]["locationIds"]][:2]
    cal = calendar(sandbox, openHours=hours(9, 11), calendarType="round_robin", appoinmentPerDay=3,
                   teamMembers=[{"userId": u, "priority": 0.5} for u in users])
    day = next_weekday(NY, 2)
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Cap"}).json()["contact"]
    nine = datetime(day.year, day.month, day.day, 9, tzinfo=NY)

    def book(start):
        return api.post("/calendars/events/appointments", json={
            "calendarId": cal["id"], "locationId": LOC, "contactId": contact["id"], "startTime": start.isoformat()})

    first, second, third = book(nine), book(nine), book(nine)
    # two members: 09:00 takes two bookings (one each), the third is refused
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 400)
    assert {first.json()["assignedUserId"], second.json()["assignedUserId"]} == set(users)
    got = slots_of(api, cal["id"], day)[day.isoformat()]
    assert nine.isoformat() not in got and len(got) == 3
    only_first = slots_of(api, cal["id"], day, userId=users[0])[day.isoformat()]
    assert nine.isoformat() not in only_first
    # the third booking of the day fills the day's limit
    assert book(nine + timedelta(hours=1)).status_code == 200
    assert slots_of(api, cal["id"], day) == {}


def test_custom_availability_replaces_open_hours_on_its_date(sandbox, api):
    day = next_weekday(NY, 3)
    cal = calendar(sandbox, openHours=hours(9, 17), availabilityType=None, availabilities=[
        {"date": f"{day.isoformat()}T00:00:00.000Z", "hours": [{"openHour": 13, "openMinute": 0,
                                                                 "closeHour": 14, "closeMinute": 0}]}])
    assert [s[11:16] for s in slots_of(api, cal["id"], day)[day.isoformat()]] == ["13:00", "13:30"]
    assert len(slots_of(api, cal["id"], day + timedelta(days=1))[(day + timedelta(days=1)).isoformat()]) == 16


def test_moving_an_appointment_onto_a_taken_slot_is_refused(sandbox, api):
    cal = calendar(sandbox, openHours=hours(9, 17))
    day = next_weekday(NY, 4)
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Mov"}).json()["contact"]
    at = [datetime(day.year, day.month, day.day, h, tzinfo=NY) for h in (9, 10)]
    ids = [api.post("/calendars/events/appointments", json={
        "calendarId": cal["id"], "locationId": LOC, "contactId": contact["id"], "startTime": t.isoformat()}
    ).json()["id"] for t in at]

    clash = api.put(f"/calendars/events/appointments/{ids[1]}", json={"startTime": at[0].isoformat()})
    same = api.put(f"/calendars/events/appointments/{ids[1]}", json={"startTime": at[1].isoformat(), "title": "T"})

    assert clash.status_code == 400 and same.status_code == 200  # its own time is free for itself


def test_racing_creates_can_both_pass_as_ghl_holds_no_slot(sandbox, api):
    import threading

    cal = calendar(sandbox, openHours=hours(9, 17))
    sandbox.control.faults(api={"booking_race_ms": 300})
    day = next_weekday(NY, 1)
    contact = api.post("/contacts/", json={"locationId": LOC, "firstName": "Race"}).json()["contact"]
    body = {"calendarId": cal["id"], "locationId": LOC, "contactId": contact["id"],
            "startTime": datetime(day.year, day.month, day.day, 9, tzinfo=NY).isoformat()}
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(
        api.post("/calendars/events/appointments", json=body).status_code)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200, 200]  # a double booking: the product must prevent it, not GHL
    assert api.post("/calendars/events/appointments", json=body).status_code == 400
