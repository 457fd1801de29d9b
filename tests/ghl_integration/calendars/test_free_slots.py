"""Free slots through the product's service, from the sandbox over HTTP."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.calendar_time import TimeInputError
from crm.services.free_slots import calendar_free_slots, calendar_free_slots_invalidate
from tests.calendar_time import dst_changes, next_weekday

NY = ZoneInfo("America/New_York")


def free_slot_requests(ghl) -> list[dict]:
    return [r for r in ghl.control.request_log(method="GET") if r["path"].endswith("/free-slots")]


@pytest.mark.parametrize("change", ["spring", "fall"])
def test_both_dst_days_in_the_calendars_zone(ghl, org, make_calendar, change):
    cal, _ = make_calendar()
    day = dst_changes(NY)[change]

    got = calendar_free_slots(organization=org, calendar=cal, start_date=day - timedelta(days=1), end_date=day)

    assert got.timezone == "America/New_York" and list(got.days) == [
        (day - timedelta(days=1)).isoformat(), day.isoformat()]
    for key, slots in got.days.items():
        d = date.fromisoformat(key)
        assert len(slots) == 16
        assert slots[0] == datetime(d.year, d.month, d.day, 9, tzinfo=NY)  # 09:00 at that day's offset
        assert slots[0].utcoffset() == datetime(d.year, d.month, d.day, 9, tzinfo=NY).utcoffset()
    before, on = got.days.values()
    assert before[0].utcoffset() != on[0].utcoffset()


def test_a_customer_in_another_zone_gets_the_same_instants_in_their_zone(ghl, org, make_calendar):
    cal, _ = make_calendar()
    day = dst_changes(NY)["spring"] + timedelta(days=2)  # New York on EDT, London still on GMT

    ny = calendar_free_slots(organization=org, calendar=cal, start_date=day)
    london = calendar_free_slots(organization=org, calendar=cal, start_date=day, timezone="Europe/London")

    assert london.timezone == "Europe/London" and london.all() == ny.all()
    assert london.days[day.isoformat()][0].isoformat() == f"{day.isoformat()}T13:00:00+00:00"


def test_tuesday_afternoon_means_that_tuesday_in_the_calendars_zone(ghl, org, make_calendar):
    cal, _ = make_calendar()
    tuesday = next_weekday(NY, 1)

    got = calendar_free_slots(organization=org, calendar=cal, start_date=tuesday, part_of_day="afternoon",
                              timezone="Asia/Tokyo")

    # 12:00-17:00 New York; for a customer in Tokyo those are Wednesday's small hours
    starts = [s.astimezone(NY) for s in got.all()]
    assert starts[0] == datetime(tuesday.year, tuesday.month, tuesday.day, 12, tzinfo=NY)
    assert starts[-1] == datetime(tuesday.year, tuesday.month, tuesday.day, 16, 30, tzinfo=NY)
    assert list(got.days) == [(tuesday + timedelta(days=1)).isoformat()]
    # read in the customer's zone instead, Tuesday afternoon in Tokyo is New York's Monday night: closed
    assert calendar_free_slots(organization=org, calendar=cal, start_date=tuesday, part_of_day="afternoon",
                               timezone="Asia/Tokyo", dates_in="customer").days == {}


def test_a_range_over_31_days_is_split_for_ghl(ghl, org, make_calendar):
    cal, _ = make_calendar()
    start = next_weekday(NY, 0)
    ghl.control.clear_request_log()

    got = calendar_free_slots(organization=org, calendar=cal, start_date=start,
                              end_date=start + timedelta(days=69))

    assert len(got.days) == 70 and all(len(slots) == 16 for slots in got.days.values())
    calls = free_slot_requests(ghl)
    assert len(calls) == 3 and all(r["status"] == 200 for r in calls)


def test_cached_until_a_booking_or_webhook_invalidates(ghl, org, make_calendar):
    cal, _ = make_calendar()
    day = next_weekday(NY, 2)
    ghl.control.clear_request_log()

    first = calendar_free_slots(organization=org, calendar=cal, start_date=day)
    again = calendar_free_slots(organization=org, calendar=cal, start_date=day)
    calendar_free_slots_invalidate(calendar=cal)
    after = calendar_free_slots(organization=org, calendar=cal, start_date=day)

    assert first == again == after and len(free_slot_requests(ghl)) == 2


def test_bad_zone_names_its_field(ghl, org, make_calendar):
    cal, _ = make_calendar()
    with pytest.raises(TimeInputError) as err:
        calendar_free_slots(organization=org, calendar=cal, start_date=next_weekday(NY, 0), timezone="Nowhere/X")
    assert err.value.field == "timezone"


def test_an_appointment_webhook_invalidates_the_calendars_slots(ghl, org, make_calendar, make_contact):
    from ghl_integration.calendars.invalidate import calendar_free_slots_invalidate_for_ghl
    from ghl_sandbox.testing import WebhookReceiver

    from .conftest import LOCATION

    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    day = next_weekday(NY, 3)
    before = calendar_free_slots(organization=org, calendar=cal, start_date=day)
    with WebhookReceiver() as rx:
        ghl.control.webhooks(urls=[rx.url])
        ghl.control.change("appointment.book", locationId=LOCATION, calendarId=remote_cal["id"],
                           contactId=contact_ext, startTime=datetime(day.year, day.month, day.day, 9,
                                                                     tzinfo=NY).isoformat())
        (event,) = rx.wait_for(1, type_="AppointmentCreate")
    assert calendar_free_slots(organization=org, calendar=cal, start_date=day) == before  # cached, stale

    assert calendar_free_slots_invalidate_for_ghl(location_id=event["locationId"],
                                                  calendar_external_id=event["appointment"]["calendarId"])

    after = calendar_free_slots(organization=org, calendar=cal, start_date=day)
    assert len(after.all()) == len(before.all()) - 1
    assert not calendar_free_slots_invalidate_for_ghl(location_id=LOCATION, calendar_external_id="unknown")
