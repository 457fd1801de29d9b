"""The calendar tools over REST against the sandbox: free slots, book/reschedule/cancel visible in GHL,
conflicts with alternatives, retries that book once, dry runs that send nothing, appointment references."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.account import crm_account_for
from crm.models import Appointment, Calendar, Contact
from ghl_integration.calendars.mirror import calendars_refresh
from tests.calendar_time import dst_changes, next_weekday

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)
NY = ZoneInfo("America/New_York")


def every_day(open_hour=9, close_hour=17):
    return [{"daysOfTheWeek": [0, 1, 2, 3, 4, 5, 6],
             "hours": [{"openHour": open_hour, "openMinute": 0, "closeHour": close_hour, "closeMinute": 0}]}]


@pytest.fixture
def cleanings(ghl, connected):
    remote = ghl.control.change("calendar.create", locationId=LOCATION_ID, name="Cleanings",
                                openHours=every_day(), allowBookingFor=0)["calendar"]
    calendars_refresh(connection=connected)
    ghl.control.clear_request_log()
    return remote


@pytest.fixture
def day():
    return next_weekday(NY, 1)  # a Tuesday at least a week ahead


def at(day, hour, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def in_ghl(ghl, calendar_id):
    return [a for a in ghl.control.objects("appointment", location_id=LOCATION_ID) if a["calendarId"] == calendar_id]


def ghl_requests(ghl):
    return [r for r in ghl.control.request_log() if not r["path"].startswith("/oauth")]


def ok(response):
    status, body = response
    assert status == 200 and body["ok"], body
    return body["result"]


def test_list_calendars_shows_zone_and_slot_length(cleanings, key, call):
    result = ok(call(key, "list_calendars", {}))
    [cal] = [c for c in result["calendars"] if c["ghl_calendar_id"] == cleanings["id"]]
    assert (cal["name"], cal["timezone"], cal["slot_duration_minutes"]) == ("Cleanings", "America/New_York", 30)


def test_free_slots_per_day_with_offsets_and_in_the_customers_zone(cleanings, key, call, day):
    result = ok(call(key, "get_free_slots", {"calendar": "cleanings", "start_date": day.isoformat()}))
    slots = result["days"][day.isoformat()]
    assert slots[0] == at(day, 9).isoformat() and slots[-1] == at(day, 16, 30).isoformat() and len(slots) == 16
    assert result["timezone"] == "America/New_York" and result["calendar"]["name"] == "Cleanings"

    madrid = ok(call(key, "get_free_slots", {"calendar": cleanings["id"], "start_date": day.isoformat(),
                                             "timezone": "Europe/Madrid"}))
    first = datetime.fromisoformat(madrid["days"][day.isoformat()][0])
    assert first == at(day, 9) and first.utcoffset() == at(day, 9).astimezone(ZoneInfo("Europe/Madrid")).utcoffset()


def test_free_slots_across_both_dst_changes_keep_local_hours(cleanings, key, call):
    for change in dst_changes(NY).values():
        result = ok(call(key, "get_free_slots", {"calendar": "Cleanings", "start_date": change.isoformat()}))
        slots = [datetime.fromisoformat(s) for s in result["days"][change.isoformat()]]
        assert slots[0] == at(change, 9) and slots[0].hour == 9 and len(slots) == 16


def test_free_slots_over_31_days_are_fetched_in_pieces(cleanings, ghl, key, call, day):
    last = day + timedelta(days=44)
    result = ok(call(key, "get_free_slots", {"calendar": "Cleanings", "start_date": day.isoformat(),
                                             "end_date": last.isoformat()}))
    assert len(result["days"]) == 45 and result["count"] == 45 * 16
    pieces = [r for r in ghl.control.request_log(method="GET") if r["path"].endswith("/free-slots")]
    assert len(pieces) == 2


def test_when_next_tuesday_afternoon_gives_that_tuesdays_afternoon(cleanings, key, call):
    today = datetime.now(NY).date()
    result = ok(call(key, "get_free_slots", {"calendar": "Cleanings", "start_date": today.isoformat(),
                                             "when": "next Tuesday afternoon"}))
    tuesday = datetime.fromisoformat(result["interpreted"]["start_date"]).date()
    assert tuesday.weekday() == 1 and 1 <= (tuesday - today).days <= 7
    slots = [datetime.fromisoformat(s) for s in result["days"][tuesday.isoformat()]]
    assert slots[0] == at(tuesday, 12) and slots[-1] == at(tuesday, 16, 30)
    assert list(result["days"]) == [tuesday.isoformat()]


def test_free_slots_errors_name_the_input(cleanings, key, call, day):
    status, body = call(key, "get_free_slots", {"calendar": "Surgery", "start_date": day.isoformat()})
    assert status == 404 and body["error"]["field"] == "calendar" and "Cleanings" in body["error"]["hint"]
    status, body = call(key, "get_free_slots", {"calendar": "Cleanings", "start_date": day.isoformat(),
                                                "timezone": "Mars/Olympus"})
    assert status == 400 and body["error"]["field"] == "timezone"
    status, body = call(key, "get_free_slots", {"calendar": "Cleanings", "start_date": day.isoformat(),
                                                "when": "whenever"})
    assert status == 400 and body["error"]["field"] == "when"


def test_book_is_visible_in_ghl_and_in_the_contacts_context(cleanings, maria, ghl, key, call, day):
    result = ok(call(key, "book_appointment", {"contact": "maria lopez", "calendar": "Cleanings",
                                               "start_time": f"{day.isoformat()}T14:00", "title": "Cleaning"}))
    assert result["status"] == "confirmed"
    appt = result["appointment"]
    [remote] = in_ghl(ghl, cleanings["id"])
    assert remote["id"] == appt["ghl_appointment_id"] and remote["contactId"] == maria[1]
    assert datetime.fromisoformat(remote["startTime"]) == at(day, 14)
    assert appt["starts_at"] == at(day, 14).isoformat() and appt["ends_at"] == at(day, 14, 30).isoformat()

    context = ok(call(key, "get_contact_context", {"contact": "maria@example.com"}))
    [upcoming] = context["upcoming_appointments"]
    assert upcoming["appointment_id"] == appt["appointment_id"] and upcoming["starts_at"] == at(day, 14).isoformat()
    assert upcoming["calendar"] == "Cleanings" and upcoming["status"] in ("new", "confirmed")


def test_a_slot_taken_meanwhile_is_a_conflict_with_alternatives(cleanings, maria, ghl, key, call, day):
    other = ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Ann", lastName="Lee")["contact"]
    ghl.control.change("appointment.book", locationId=LOCATION_ID, calendarId=cleanings["id"],
                       contactId=other["id"], startTime=at(day, 10).isoformat())

    status, body = call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                                  "start_time": at(day, 10).isoformat()})

    assert status == 409 and body["error"]["code"] == "conflict" and body["error"]["field"] == "start_time"
    assert body["error"]["alternatives"] == [at(day, 9).isoformat(), at(day, 9, 30).isoformat(),
                                             at(day, 10, 30).isoformat()]
    assert len(in_ghl(ghl, cleanings["id"])) == 1


def test_a_retried_request_with_the_same_key_books_once(cleanings, maria, ghl, key, call, day):
    body = {"contact": "Maria Lopez", "calendar": "Cleanings", "start_time": at(day, 11).isoformat(),
            "idempotency_key": "book-maria-1"}
    first = ok(call(key, "book_appointment", body))
    again = ok(call(key, "book_appointment", body))
    assert again == first and len(in_ghl(ghl, cleanings["id"])) == 1
    assert Appointment.objects.count() == 1


def test_a_worker_retried_after_ghl_answered_adopts_the_booking(cleanings, maria, ghl, key, call, day):
    # GHL booked it, the worker died before storing it: the retry (another key even) finds it, books nothing
    ghl.control.change("appointment.book", locationId=LOCATION_ID, calendarId=cleanings["id"], contactId=maria[1],
                       startTime=at(day, 11).isoformat())
    [made] = in_ghl(ghl, cleanings["id"])

    result = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 11).isoformat(), "idempotency_key": "retry-2"}))

    assert result["status"] == "existing" and result["appointment"]["ghl_appointment_id"] == made["id"]
    assert len(in_ghl(ghl, cleanings["id"])) == 1 and Appointment.objects.count() == 1


def test_dry_runs_send_nothing_to_ghl(cleanings, maria, ghl, key, call, day):
    result = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 11).isoformat(), "dry_run": True}))
    assert result["status"] == "dry_run" and result["would"] == "book"
    assert result["starts_at"] == at(day, 11).isoformat() and result["ends_at"] == at(day, 11, 30).isoformat()
    assert ghl_requests(ghl) == [] and not in_ghl(ghl, cleanings["id"])

    booked = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 11).isoformat()}))["appointment"]
    ghl.control.clear_request_log()
    for tool, extra in (("cancel_appointment", {}), ("reschedule_appointment",
                                                     {"start_time": at(day, 15).isoformat()})):
        result = ok(call(key, tool, {"appointment": booked["appointment_id"], "dry_run": True, **extra}))
        assert result["status"] == "dry_run"
    assert ghl_requests(ghl) == []
    [remote] = in_ghl(ghl, cleanings["id"])
    assert remote["appointmentStatus"] != "cancelled" and datetime.fromisoformat(remote["startTime"]) == at(day, 11)


def test_dry_runs_without_a_connection_answer_not_connected(cleanings, maria, connected, ghl, key, call, day):
    from ghl_integration.connections.disconnect import connection_disconnect

    # given: a booking made while connected, then GoHighLevel disconnected
    booked = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 11).isoformat()}))["appointment"]
    connection_disconnect(connection=connected)
    ghl.control.clear_request_log()

    # when / then: each dry run answers what the real call would
    for tool, arguments in (
        ("book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                              "start_time": at(day, 14).isoformat()}),
        ("reschedule_appointment", {"appointment": booked["appointment_id"], "start_time": at(day, 15).isoformat()}),
        ("cancel_appointment", {"appointment": booked["appointment_id"]}),
    ):
        dry = call(key, tool, {**arguments, "dry_run": True})
        real = call(key, tool, arguments)
        assert dry[0] == 409 and dry[1]["error"]["code"] == "not_connected", (tool, dry)
        assert dry[1]["error"]["field"] == "calendar", (tool, dry)
        assert dry == real, tool
    assert ghl_requests(ghl) == []
    assert Appointment.objects.get(pk=booked["appointment_id"]).status != Appointment.Status.CANCELLED


def test_reschedule_by_contact_and_date_then_cancel_by_ghl_id(cleanings, maria, ghl, key, call, day):
    booked = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 11).isoformat()}))["appointment"]

    moved = ok(call(key, "reschedule_appointment", {"appointment": f"Maria Lopez {day.isoformat()}",
                                                    "start_time": at(day, 15).isoformat()}))
    assert moved["status"] == "confirmed" and moved["appointment"]["starts_at"] == at(day, 15).isoformat()
    [remote] = in_ghl(ghl, cleanings["id"])
    assert datetime.fromisoformat(remote["startTime"]) == at(day, 15)

    cancelled = ok(call(key, "cancel_appointment", {"appointment": booked["ghl_appointment_id"]}))
    assert cancelled["appointment"]["status"] == "cancelled"
    assert in_ghl(ghl, cleanings["id"])[0]["appointmentStatus"] == "cancelled"
    again = ok(call(key, "cancel_appointment", {"appointment": {"contact": "Maria", "date": day.isoformat()}}))
    assert again["status"] == "unchanged"
    assert ok(call(key, "get_contact_context", {"contact": "Maria Lopez"}))["upcoming_appointments"] == []


def test_list_appointments_without_a_calendar_reads_dates_in_the_locations_zone(connected, org, key, call):
    # given the location's zone (from GET /locations/{id} on connect) and calendars that name none
    assert crm_account_for(org).timezone == "America/New_York"
    walk_ins = Calendar.objects.create(organization=org, name="Walk-ins", timezone="")
    Calendar.objects.create(organization=org, name="Consults", timezone="")
    person = Contact.objects.create(organization=org, first_name="Ana", full_name="Ana Ruiz")

    def appointment(utc_hour, day=16):
        starts = datetime(2027, 3, day, utc_hour, tzinfo=ZoneInfo("UTC"))
        return Appointment.objects.create(organization=org, calendar=walk_ins, contact=person, starts_at=starts,
                                          ends_at=starts + timedelta(minutes=30), status="confirmed")

    late_on_the_15th = appointment(2)  # 22:00 on 15 March in New York, 02:00 on the 16th in UTC
    morning_of_the_16th = appointment(14)  # 10:00 on 16 March in New York
    # when
    the_15th = ok(call(key, "list_appointments", {"start_date": "2027-03-15"}))
    the_16th = ok(call(key, "list_appointments", {"start_date": "2027-03-16", "end_date": "2027-03-16"}))
    # then each day is the business's own day
    assert the_15th["dates_in"] == the_16th["dates_in"] == "America/New_York"
    assert [a["appointment_id"] for a in the_15th["appointments"]] == [late_on_the_15th.pk]
    assert [a["appointment_id"] for a in the_16th["appointments"]] == [morning_of_the_16th.pk]


def test_list_appointments_filters_and_appointment_references_are_exact(cleanings, maria, ghl, key, call, day):
    for hour in (10, 14):
        ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                          "start_time": at(day, hour).isoformat()}))
    listed = ok(call(key, "list_appointments", {"contact": "Maria Lopez", "start_date": day.isoformat()}))
    assert [a["starts_at"] for a in listed["appointments"]] == [at(day, 10).isoformat(), at(day, 14).isoformat()]
    assert ok(call(key, "list_appointments", {"status": "cancelled"}))["count"] == 0
    other_day = ok(call(key, "list_appointments", {"start_date": (day + timedelta(days=1)).isoformat()}))
    assert other_day["count"] == 0

    status, body = call(key, "cancel_appointment", {"appointment": f"Maria Lopez {day.isoformat()}"})
    assert status == 409 and body["error"]["code"] == "ambiguous" and len(body["error"]["candidates"]) == 2
    status, body = call(key, "cancel_appointment",
                        {"appointment": f"Maria Lopez {(day + timedelta(days=1)).isoformat()}"})
    assert status == 404 and body["error"]["field"] == "appointment"
    status, body = call(key, "cancel_appointment", {"appointment": "999999"})
    assert status == 404


def test_another_organizations_appointment_is_not_found(cleanings, maria, ghl, key, call, day, org_factory):
    from agents.services import agent_create, api_key_create

    booked = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 10).isoformat()}))["appointment"]
    stranger = api_key_create(agent=agent_create(organization=org_factory("Other"), name="x"))[1]
    for ref in (str(booked["appointment_id"]), booked["ghl_appointment_id"]):
        status, body = call(stranger, "cancel_appointment", {"appointment": ref})
        assert status == 404 and body["error"]["field"] == "appointment"
    assert in_ghl(ghl, cleanings["id"])[0]["appointmentStatus"] != "cancelled"


def test_appointment_reads_say_how_fresh_the_mirror_is(cleanings, maria, ghl, key, call, day):
    booked = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                               "start_time": at(day, 11).isoformat()}))["appointment"]
    [listed] = ok(call(key, "list_appointments", {"contact": "Maria Lopez"}))["appointments"]
    [upcoming] = ok(call(key, "get_contact_context", {"contact": "Maria Lopez"}))["upcoming_appointments"]
    assert listed["appointment_id"] == upcoming["appointment_id"] == booked["appointment_id"]
    assert listed["synced_at"] and listed["synced_at"] == upcoming["synced_at"]
    assert datetime.fromisoformat(listed["synced_at"]) <= datetime.now(tz=NY)
