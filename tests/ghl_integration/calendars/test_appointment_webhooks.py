"""Appointment* webhooks delivered by the sandbox over HTTP, through the inbox, into the local appointments."""
import json
import threading
import time
from datetime import datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection
from django.db import connections

from crm import events
from crm.models import Appointment, Calendar, Contact, ExternalIdentity
from crm.selectors.external_ids import local_object_for_external_id
from crm.services import appointments as appointments_module
from crm.services.appointments import appointment_book, appointment_cancel
from crm.services.free_slots import calendar_free_slots
from ghl_integration.models import WebhookEvent
from ghl_integration.webhooks.processing import webhook_event_process
from ghl_integration.webhooks.services import webhook_receive
from ghl_sandbox.webhooks import Signer
from tests.calendar_time import next_weekday

from .conftest import LOCATION, appointment_deliveries, deliver

NY = ZoneInfo("America/New_York")


@pytest.fixture
def day():
    return next_weekday(NY, 2)


def at(day, hour, minute=0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def local(external_id: str) -> Appointment | None:
    return local_object_for_external_id(model=Appointment, provider="ghl", account_id=LOCATION,
                                        external_id=external_id)


def appointment_events(seen) -> list[tuple[str, str]]:
    return [(name, data["external_id"]) for name, data in seen if name.startswith("appointment.")]


def book_in_ghl(ghl, calendar_id: str, contact_ext: str, start: datetime) -> dict:
    return ghl.control.change("appointment.book", locationId=LOCATION, calendarId=calendar_id,
                              contactId=contact_ext, startTime=start.isoformat())["appointment"]


def test_a_booking_made_in_ghl_arrives_with_its_contact_and_status_and_drops_the_cached_slots(
        ghl, org, make_calendar, make_contact, receiver, business_events, day, django_capture_on_commit_callbacks):
    # given: the calendar's free slots are cached
    cal, remote_cal = make_calendar()
    contact, contact_ext = make_contact()
    before = calendar_free_slots(organization=org, calendar=cal, start_date=day)

    # when: someone books 10:00 on GHL's booking widget
    remote = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 10))
    statuses = deliver(appointment_deliveries(receiver, 1), django_capture_on_commit_callbacks)

    # then
    assert statuses == ["processed"]
    appt = local(remote["id"])
    assert (appt.calendar_id, appt.contact_id, appt.status) == (cal.pk, contact.pk, "confirmed")
    assert (appt.starts_at, appt.ends_at) == (at(day, 10), at(day, 10, 30))
    assert appt.title == remote["title"]
    assert appointment_events(business_events) == [(events.APPOINTMENT_BOOKED, remote["id"])]
    after = calendar_free_slots(organization=org, calendar=cal, start_date=day)
    assert at(day, 10) in before.all() and at(day, 10) not in after.all()
    # and the agents see it in the contact's context
    from agents.tools.calendar import upcoming_appointments

    assert [a["ghl_appointment_id"] for a in upcoming_appointments(org, contact)] == [remote["id"]]


def test_statuses_are_mirrored_and_each_change_is_announced_once(
        ghl, org, make_calendar, make_contact, receiver, business_events, day, django_capture_on_commit_callbacks):
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    remote = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 11))
    seen_statuses = []
    for status in ("new", "confirmed", "showed", "noshow", "invalid", "cancelled"):
        ghl.control.change("appointment.update", eventId=remote["id"], appointmentStatus=status)
    items = appointment_deliveries(receiver, 7)

    for item in items:
        deliver([item], django_capture_on_commit_callbacks)
        seen_statuses.append(local(remote["id"]).status)

    assert seen_statuses == ["confirmed", "new", "confirmed", "showed", "noshow", "invalid", "cancelled"]
    assert appointment_events(business_events) == [
        (events.APPOINTMENT_BOOKED, remote["id"]), (events.APPOINTMENT_NO_SHOW, remote["id"]),
        (events.APPOINTMENT_CANCELLED, remote["id"])]
    # a redelivery of the last one is acknowledged and changes nothing
    assert deliver(items[-1:], django_capture_on_commit_callbacks) == ["duplicate"]
    assert len(appointment_events(business_events)) == 3


def test_a_late_older_delivery_is_dropped_by_the_watermark(
        ghl, org, make_calendar, make_contact, receiver, business_events, day, django_capture_on_commit_callbacks):
    # given: GHL books at 9:00, then (a second later: dateUpdated has seconds) moves it to 14:00 and retitles it
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    remote = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 9))
    created, = appointment_deliveries(receiver, 1)
    deliver([created], django_capture_on_commit_callbacks)
    ghl.control.change("appointment.update", eventId=remote["id"], title="First move",
                       startTime=at(day, 12).isoformat())
    first_move = appointment_deliveries(receiver, 2)[-1]
    time.sleep(1.1)
    ghl.control.change("appointment.update", eventId=remote["id"], title="Second move",
                       startTime=at(day, 14).isoformat())
    second_move = appointment_deliveries(receiver, 3)[-1]

    # when: they arrive newest first
    statuses = deliver([second_move, first_move], django_capture_on_commit_callbacks)

    # then: the older one changed nothing
    assert statuses == ["processed", "processed"]
    appt = local(remote["id"])
    assert (appt.starts_at, appt.title) == (at(day, 14), "Second move")
    link = ExternalIdentity.objects.get(content_type__model="appointment", external_id=remote["id"])
    assert link.remote_updated_at == datetime.fromisoformat(second_move["json"]["appointment"]["dateUpdated"])


def test_the_webhook_of_our_own_booking_is_recognised_and_creates_nothing(
        ghl, org, make_calendar, make_contact, receiver, business_events, day, django_capture_on_commit_callbacks):
    # given: we book through the command (which stores the appointment and its link)
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    with django_capture_on_commit_callbacks(execute=True):
        result = appointment_book(organization=org, calendar=cal, contact=contact, start_time=at(day, 15),
                                  title="Cleaning", notes="first visit")

    # when: GHL's AppointmentCreate for it comes back
    statuses = deliver(appointment_deliveries(receiver, 1), django_capture_on_commit_callbacks)

    # then: still one appointment, notes kept (the webhook carries none), one "booked"
    assert statuses == ["processed"]
    assert Appointment.objects.filter(organization=org).count() == 1
    appt = Appointment.objects.get(pk=result.appointment.pk)
    assert (appt.title, appt.notes, appt.status) == ("Cleaning", "first visit", "confirmed")
    assert appointment_events(business_events) == [(events.APPOINTMENT_BOOKED, result.external_id)]

    # and our own cancel, with its echo, is announced once too
    with django_capture_on_commit_callbacks(execute=True):
        appointment_cancel(organization=org, appointment=appt)
    deliver(appointment_deliveries(receiver, 2)[1:], django_capture_on_commit_callbacks)
    assert Appointment.objects.get(pk=appt.pk).status == "cancelled"
    assert appointment_events(business_events) == [(events.APPOINTMENT_BOOKED, result.external_id),
                                                   (events.APPOINTMENT_CANCELLED, result.external_id)]


def test_a_delete_archives_and_later_reports_of_it_are_dropped(
        ghl, org, make_calendar, make_contact, receiver, business_events, day, django_capture_on_commit_callbacks):
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    remote = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 13))
    ghl.control.change("appointment.update", eventId=remote["id"], title="Renamed")
    ghl.control.change("appointment.delete", eventId=remote["id"])
    created, renamed, deleted = appointment_deliveries(receiver, 3)

    statuses = deliver([created, deleted, renamed], django_capture_on_commit_callbacks)

    assert statuses == ["processed", "processed", "processed"]
    appt = local(remote["id"])
    assert appt.is_archived and appt.title != "Renamed"
    assert appointment_events(business_events) == [(events.APPOINTMENT_BOOKED, remote["id"]),
                                                   (events.APPOINTMENT_CANCELLED, remote["id"])]


def test_an_unlinked_contact_is_matched_through_the_contact_sync_never_duplicated(
        ghl, org, connection, make_calendar, receiver, day, django_capture_on_commit_callbacks):
    # given: a person known here by email only (not linked), and one GHL knows but we do not
    cal, remote_cal = make_calendar()
    known = ghl.control.change_contact("create", locationId=LOCATION, firstName="Ann", lastName="Known",
                                       email="ann@example.com")["contact"]
    here = Contact.objects.create(organization=org, first_name="Ann", last_name="Known", full_name="Ann Known",
                                  email="ann@example.com")
    stranger = ghl.control.change_contact("create", locationId=LOCATION, firstName="Sam",
                                          lastName="Stranger", email="sam@example.com")["contact"]
    first = book_in_ghl(ghl, remote_cal["id"], known["id"], at(day, 9))
    second = book_in_ghl(ghl, remote_cal["id"], stranger["id"], at(day, 10))

    # when
    statuses = deliver(appointment_deliveries(receiver, 2), django_capture_on_commit_callbacks)

    # then: Ann is the local Ann (now linked), Sam was created once, from GHL's record
    assert statuses == ["processed", "processed"]
    assert local(first["id"]).contact_id == here.pk
    sam = local(second["id"]).contact
    assert (sam.first_name, sam.email) == ("Sam", "sam@example.com")
    assert Contact.objects.filter(organization=org, email__in=["ann@example.com", "sam@example.com"]).count() == 2


def test_an_appointment_on_a_calendar_not_mirrored_yet_mirrors_the_calendars_first(
        ghl, org, connection, make_contact, receiver, day, django_capture_on_commit_callbacks):
    # given: a calendar made in GHL after the last mirror
    from .conftest import every_day

    remote_cal = ghl.control.change("calendar.create", locationId=LOCATION, name="Whitening",
                                    openHours=every_day(), allowBookingFor=0)["calendar"]
    _, contact_ext = make_contact()
    remote = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 9))

    statuses = deliver(appointment_deliveries(receiver, 1), django_capture_on_commit_callbacks)

    assert statuses == ["processed"]
    cal = local_object_for_external_id(model=Calendar, provider="ghl", account_id=LOCATION,
                                       external_id=remote_cal["id"])
    assert cal.name == "Whitening" and local(remote["id"]).calendar_id == cal.pk


def test_a_malformed_appointment_is_dead_at_once_with_the_reason(
        ghl, org, connection, receiver, django_capture_on_commit_callbacks):
    body = json.dumps({"type": "AppointmentUpdate", "locationId": LOCATION, "appointment": {"id": "x1"},
                       "timestamp": datetime.now(NY).isoformat(), "webhookId": "bad-appt-1"}).encode()
    received = webhook_receive(body=body, headers=Signer().headers(body))

    assert webhook_event_process(event_id=received.data["id"]).status == "dead"
    event = WebhookEvent.objects.get(pk=received.data["id"])
    assert "calendarId" in event.last_error and "startTime" in event.last_error


@pytest.mark.django_db(transaction=True)
def test_the_webhook_of_our_booking_arriving_before_the_booking_commits_waits_for_it(
        ghl, org, make_calendar, make_contact, receiver, business_events, day):
    if db_connection.vendor != "postgresql":
        pytest.skip("the calendar lock is PostgreSQL's")
    # given: a booking command that, once it has stored the appointment and its link (not committed yet), lets
    # GHL's webhook for it be processed by another worker
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    real_remember = appointments_module._remember
    worker: dict = {}

    def process_webhook_meanwhile():
        try:
            (item,) = appointment_deliveries(receiver, 1)
            received = webhook_receive(body=item["body"], headers=item["headers"])
            worker["status"] = webhook_event_process(event_id=received.data["id"]).status
        finally:
            connections.close_all()

    def remember_then_slow(*args, **kwargs):
        real_remember(*args, **kwargs)
        worker["thread"] = threading.Thread(target=process_webhook_meanwhile)
        worker["thread"].start()
        time.sleep(1.0)  # the other worker is now waiting for the calendar

    # when
    with mock.patch.object(appointments_module, "_remember", remember_then_slow):
        result = appointment_book(organization=org, calendar=cal, contact=contact, start_time=at(day, 16))
    worker["thread"].join(20)

    # then: the webhook found the committed booking: one appointment, announced once
    assert worker["status"] == "processed"
    assert list(Appointment.objects.for_org(org).values_list("pk", flat=True)) == [result.appointment.pk]
    assert appointment_events(business_events) == [(events.APPOINTMENT_BOOKED, result.external_id)]
