"""Book, reschedule and cancel against the sandbox over HTTP: visible in GHL, exactly once."""
from datetime import datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest

from crm.models import Appointment, AppointmentRequest, ExternalIdentity
from crm.services import appointments as appointments_module
from crm.services.appointment_errors import (
    AppointmentConflict,
    AppointmentForbidden,
    AppointmentInvalid,
    AppointmentUnavailable,
)
from crm.services.appointments import appointment_book, appointment_cancel, appointment_reschedule
from ghl_integration.connections import connection_disconnect
from tests.calendar_time import next_weekday

from .conftest import LOCATION, ghl_appointments

NY = ZoneInfo("America/New_York")


@pytest.fixture
def day():
    return next_weekday(NY, 1)


def at(day, hour, minute=0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def book(org, cal, contact, start, **kw):
    return appointment_book(organization=org, calendar=cal, contact=contact, start_time=start, **kw)


def test_book_is_visible_in_ghl_and_stored_with_its_link(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, contact_ext = make_contact()

    result = book(org, cal, contact, at(day, 10).isoformat(), title="Cleaning", notes="first visit")

    in_ghl = ghl_appointments(ghl, remote_cal["id"])
    assert [a["id"] for a in in_ghl] == [result.external_id]
    assert in_ghl[0]["contactId"] == contact_ext and datetime.fromisoformat(in_ghl[0]["startTime"]) == at(day, 10)
    assert in_ghl[0]["title"] == "Cleaning"
    appt = result.appointment
    assert (appt.starts_at, appt.ends_at - appt.starts_at, appt.status) == (at(day, 10), timedelta(minutes=30),
                                                                            "confirmed")
    link = ExternalIdentity.objects.get(object_id=appt.pk, content_type__model="appointment")
    assert (link.provider, link.account_id, link.external_id) == ("ghl", LOCATION, result.external_id)


def test_a_naive_start_is_read_in_the_calendars_zone(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()

    result = book(org, cal, contact, f"{day.isoformat()}T14:00:00")

    assert result.starts_at == at(day, 14)
    assert datetime.fromisoformat(ghl_appointments(ghl, remote_cal["id"])[0]["startTime"]) == at(day, 14)


def test_a_slot_taken_meanwhile_is_a_conflict_with_the_nearest_free_slots(ghl, org, make_calendar, make_contact, day):
    # given: someone books 10:00 in GHL itself
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    _, other_ext = make_contact("Ann")
    ghl.control.change("appointment.book", locationId=LOCATION, calendarId=remote_cal["id"], contactId=other_ext,
                       startTime=at(day, 10).isoformat())

    # when
    with pytest.raises(AppointmentConflict) as err:
        book(org, cal, contact, at(day, 10).isoformat())

    # then
    # the three nearest (09:00 beats 11:00 on the tie), in time order, in the calendar's zone
    assert err.value.alternatives == [at(day, 9), at(day, 9, 30), at(day, 10, 30)]
    assert all(a.tzinfo == NY for a in err.value.alternatives)
    body = err.value.as_dict()
    assert body["code"] == "conflict" and body["field"] == "start_time" and len(body["alternatives"]) == 3
    assert len(ghl_appointments(ghl, remote_cal["id"])) == 1 and not Appointment.objects.for_org(org).exists()


def test_ghl_refusing_the_slot_at_create_time_is_a_conflict_too(ghl, org, make_calendar, make_contact, day):
    # the free-slots check passed, then another booking won the race inside GHL
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    _, other_ext = make_contact("Ann")
    real = appointments_module._free_around

    raced = []

    def free_then_taken(calendar, backend, starts_at):
        answer = real(calendar, backend, starts_at)
        if raced:
            return answer
        raced.append(True)
        ghl.control.change("appointment.book", locationId=LOCATION, calendarId=remote_cal["id"],
                           contactId=other_ext, startTime=starts_at.isoformat())
        return answer

    with mock.patch.object(appointments_module, "_free_around", free_then_taken), \
            pytest.raises(AppointmentConflict) as err:
        book(org, cal, contact, at(day, 11).isoformat())

    assert at(day, 11) not in err.value.alternatives and err.value.alternatives
    assert len(ghl_appointments(ghl, remote_cal["id"])) == 1


def test_same_idempotency_key_books_once_and_replays(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()

    first = book(org, cal, contact, at(day, 10).isoformat(), idempotency_key="k-1")
    ghl.control.clear_request_log()
    again = book(org, cal, contact, at(day, 10).isoformat(), idempotency_key="k-1")

    assert again.replayed and again.appointment.pk == first.appointment.pk
    assert again.external_id == first.external_id
    assert len(ghl_appointments(ghl, remote_cal["id"])) == 1
    assert not [r for r in ghl.control.request_log() if r["method"] != "GET"]  # nothing written the second time
    with pytest.raises(AppointmentInvalid) as err:
        book(org, cal, contact, at(day, 11).isoformat(), idempotency_key="k-1")
    assert err.value.field == "idempotency_key"


def test_a_worker_retried_after_ghl_answered_finds_the_booking(ghl, org, make_calendar, make_contact, day):
    # given: GHL creates the appointment, then the worker dies before storing it
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    with mock.patch.object(appointments_module, "appointment_store_remote", side_effect=RuntimeError("killed")), \
            pytest.raises(RuntimeError):
        book(org, cal, contact, at(day, 10).isoformat(), idempotency_key="k-2")
    assert len(ghl_appointments(ghl, remote_cal["id"])) == 1
    assert not Appointment.objects.for_org(org).exists() and not AppointmentRequest.objects.exists()
    # meanwhile another change drops the cache and someone reads the free slots: the cache now shows the time
    # taken (by our own lost booking)
    from crm.services.free_slots import calendar_free_slot_starts, calendar_free_slots_invalidate, nearest_window

    calendar_free_slots_invalidate(calendar=cal)
    assert at(day, 10) not in calendar_free_slot_starts(calendar=cal, start=nearest_window(around=at(day, 10))[0],
                                                        end=nearest_window(around=at(day, 10))[1])

    # when: the task runs again
    retried = book(org, cal, contact, at(day, 10).isoformat(), idempotency_key="k-2")

    # then: it adopts GHL's appointment instead of making a second
    in_ghl = ghl_appointments(ghl, remote_cal["id"])
    assert len(in_ghl) == 1 and retried.found_existing and retried.external_id == in_ghl[0]["id"]
    assert Appointment.objects.for_org(org).count() == 1
    # and a retry without any key (a client retrying) still books nothing new
    assert book(org, cal, contact, at(day, 10).isoformat()).appointment.pk == retried.appointment.pk
    assert len(ghl_appointments(ghl, remote_cal["id"])) == 1


def test_dry_run_books_nothing(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()

    result = book(org, cal, contact, at(day, 10).isoformat(), dry_run=True)

    assert result.dry_run and result.appointment is None and result.starts_at == at(day, 10)
    assert ghl_appointments(ghl, remote_cal["id"]) == [] and not Appointment.objects.for_org(org).exists()


def test_reschedule_moves_it_in_ghl_and_refuses_a_taken_slot(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    _, other_ext = make_contact("Ann")
    appt = book(org, cal, contact, at(day, 10).isoformat()).appointment
    ghl.control.change("appointment.book", locationId=LOCATION, calendarId=remote_cal["id"], contactId=other_ext,
                       startTime=at(day, 15).isoformat())

    moved = appointment_reschedule(organization=org, appointment=appt, start_time=at(day, 14).isoformat(),
                                   idempotency_key="r-1")
    with pytest.raises(AppointmentConflict) as err:
        appointment_reschedule(organization=org, appointment=appt, start_time=at(day, 15).isoformat())

    ours = [a for a in ghl_appointments(ghl, remote_cal["id"]) if a["id"] == moved.external_id][0]
    assert datetime.fromisoformat(ours["startTime"]) == at(day, 14)
    appt.refresh_from_db()
    assert appt.starts_at == at(day, 14) and appt.ends_at == at(day, 14, 30)
    assert err.value.alternatives and at(day, 15) not in err.value.alternatives
    again = appointment_reschedule(organization=org, appointment=appt, start_time=at(day, 14).isoformat(),
                                   idempotency_key="r-1")
    assert again.replayed


def test_reschedule_by_half_a_slot_over_its_own_time(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar(slotDuration=60, slotInterval=30)
    contact, _ = make_contact()
    appt = book(org, cal, contact, at(day, 10).isoformat()).appointment

    appointment_reschedule(organization=org, appointment=appt, start_time=at(day, 10, 30).isoformat())

    appt.refresh_from_db()
    assert appt.starts_at == at(day, 10, 30) and appt.ends_at == at(day, 11, 30)


def test_cancel_in_ghl_idempotently(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    appt = book(org, cal, contact, at(day, 10).isoformat()).appointment

    dry = appointment_cancel(organization=org, appointment=appt, dry_run=True)
    assert dry.dry_run and ghl_appointments(ghl, remote_cal["id"])[0]["appointmentStatus"] == "confirmed"
    done = appointment_cancel(organization=org, appointment=appt)
    again = appointment_cancel(organization=org, appointment=appt)

    assert ghl_appointments(ghl, remote_cal["id"])[0]["appointmentStatus"] == "cancelled"
    appt.refresh_from_db()
    assert appt.status == "cancelled" and done.status == "cancelled" and again.found_existing
    # the slot is free again
    assert book(org, cal, make_contact("Ann")[0], at(day, 10).isoformat()).starts_at == at(day, 10)
    with pytest.raises(AppointmentInvalid):
        appointment_reschedule(organization=org, appointment=appt, start_time=at(day, 12).isoformat())


def test_the_calendars_rules_forbid_cancel_or_reschedule(ghl, org, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar(allowCancellation=False, allowReschedule=False)
    contact, _ = make_contact()
    appt = book(org, cal, contact, at(day, 10).isoformat()).appointment

    with pytest.raises(AppointmentForbidden) as cancel_err:
        appointment_cancel(organization=org, appointment=appt)
    with pytest.raises(AppointmentForbidden) as move_err:
        appointment_reschedule(organization=org, appointment=appt, start_time=at(day, 12).isoformat())

    assert cancel_err.value.code == move_err.value.code == "forbidden"
    assert ghl_appointments(ghl, remote_cal["id"])[0]["appointmentStatus"] == "confirmed"


def test_invalid_inputs_get_clear_errors(ghl, org, make_calendar, make_contact, day):
    cal, _ = make_calendar()
    contact, _ = make_contact()
    from crm.models import Contact

    unsynced = Contact.objects.create(organization=org, first_name="New")
    cases = [
        (dict(contact=contact, start_time="tomorrow-ish"), AppointmentInvalid, "start_time"),
        (dict(contact=contact, start_time=(datetime.now(NY) - timedelta(hours=1)).isoformat()), AppointmentInvalid,
         "start_time"),
        (dict(contact=unsynced, start_time=at(day, 10).isoformat()), AppointmentUnavailable, "contact"),
    ]
    for kwargs, error, field in cases:
        with pytest.raises(error) as err:
            appointment_book(organization=org, calendar=cal, **kwargs)
        assert err.value.field == field, kwargs


def test_a_disconnected_location_is_unavailable_not_a_crash(ghl, org, connection, make_calendar, make_contact, day):
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    connection_disconnect(connection=connection)

    with pytest.raises(AppointmentUnavailable) as err:
        book(org, cal, contact, at(day, 10).isoformat())

    assert err.value.retryable and ghl_appointments(ghl, remote_cal["id"]) == []
