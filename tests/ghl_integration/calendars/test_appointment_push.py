"""Local appointment details (title, notes, status) pushed to GHL through the outbox, against the sandbox."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from crm import events
from crm.models import Appointment, ExternalIdentity
from crm.services.appointment_changes import appointment_change_details
from crm.services.appointments import appointment_book, appointment_cancel
from crm.sync.models import OutboxEntry
from ghl_integration.sync.push import outbox_push_pending
from tests.calendar_time import next_weekday

from .conftest import LOCATION, appointment_deliveries, deliver

NY = ZoneInfo("America/New_York")
INLINE = "crm-externalidentity-content_type-object_id"


@pytest.fixture
def booked(org, make_calendar, make_contact):
    cal, _ = make_calendar()
    contact, _ = make_contact()
    day = next_weekday(NY, 2)
    return appointment_book(organization=org, calendar=cal, contact=contact,
                            start_time=datetime(day.year, day.month, day.day, 10, tzinfo=NY), title="Cleaning")


def in_ghl(ghl, external_id: str) -> dict:
    return next(a for a in ghl.control.objects("appointment", location_id=LOCATION) if a["id"] == external_id)


def puts(ghl) -> list[dict]:
    return [r for r in ghl.control.request_log() if r["method"] == "PUT"]


def test_title_notes_and_status_changed_here_reach_ghl_once_and_their_echo_changes_nothing(
        ghl, org, connection, receiver, booked, business_events, django_capture_on_commit_callbacks):
    # given
    appt = booked.appointment
    appointment_deliveries(receiver, 1)  # the booking's own AppointmentCreate (already recognised elsewhere)
    ghl.control.clear_request_log()

    # when: the owner marks it showed and renames it
    with django_capture_on_commit_callbacks(execute=True):
        appt, changed = appointment_change_details(appointment=appt, title="Cleaning + X-ray",
                                                   notes="bring the old X-rays", status="showed")
    counts = outbox_push_pending(connection_id=connection.pk)

    # then: one PUT with the three details, verified, the entry done and the watermark at GHL's dateUpdated
    assert changed == ["notes", "status", "title"] and counts["updated"] == 1
    remote = in_ghl(ghl, booked.external_id)
    assert (remote["title"], remote["description"], remote["appointmentStatus"]) == (
        "Cleaning + X-ray", "bring the old X-rays", "showed")
    (put,) = puts(ghl)
    assert put["path"] == f"/calendars/events/appointments/{booked.external_id}"
    assert OutboxEntry.objects.get(object_id=appt.pk, content_type__model="appointment").status == "done"
    link = ExternalIdentity.objects.get(object_id=appt.pk, content_type__model="appointment")
    assert link.remote_updated_at == datetime.fromisoformat(remote["dateUpdated"])
    # and GHL's AppointmentUpdate for our push changes nothing
    echo = appointment_deliveries(receiver, 2)[-1]
    assert deliver([echo], django_capture_on_commit_callbacks) == ["processed"]
    appt.refresh_from_db()
    assert (appt.title, appt.notes, appt.status) == ("Cleaning + X-ray", "bring the old X-rays", "showed")
    # a push that runs again (a redelivered task) finds nothing to do
    assert not any(outbox_push_pending(connection_id=connection.pk).values())
    assert len(puts(ghl)) == 1


def test_a_no_show_marked_here_is_announced_once(ghl, org, connection, receiver, booked, business_events,
                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        appointment_change_details(appointment=booked.appointment, status="noshow")
    outbox_push_pending(connection_id=connection.pk)
    deliver(appointment_deliveries(receiver, 2), django_capture_on_commit_callbacks)  # create + our update's echo

    assert in_ghl(ghl, booked.external_id)["appointmentStatus"] == "noshow"
    assert [name for name, _ in business_events] == [events.APPOINTMENT_NO_SHOW]


def test_a_local_change_not_pushed_yet_survives_an_older_webhook(
        ghl, org, connection, receiver, booked, django_capture_on_commit_callbacks):
    # given: someone renames it in GHL; before that webhook is processed, the owner renames it here
    deliver(appointment_deliveries(receiver, 1), django_capture_on_commit_callbacks)
    ghl.control.change("appointment.update", eventId=booked.external_id, title="Renamed in GHL")
    their_change = appointment_deliveries(receiver, 2)[-1]
    appointment_change_details(appointment=booked.appointment, title="Renamed here")

    # when: their webhook arrives, then our push runs
    deliver([their_change], django_capture_on_commit_callbacks)
    assert Appointment.objects.get(pk=booked.appointment.pk).title == "Renamed here"
    outbox_push_pending(connection_id=connection.pk)

    # then: both sides agree on the later change
    assert in_ghl(ghl, booked.external_id)["title"] == "Renamed here"


def test_bad_details_are_refused_with_the_field_and_nothing_is_queued(ghl, org, connection, booked):
    appt = booked.appointment
    for kwargs, field in (({"status": "cancelled"}, "status"), ({"status": "gone"}, "status"),
                          ({"title": "x" * 256}, "title")):
        with pytest.raises(ValidationError) as err:
            appointment_change_details(appointment=appt, **kwargs)
        assert field in err.value.message_dict
    assert not OutboxEntry.objects.filter(content_type__model="appointment").exists()
    # a change to what it already is queues nothing either
    assert appointment_change_details(appointment=appt, title="Cleaning")[1] == []
    assert not OutboxEntry.objects.filter(content_type__model="appointment").exists()


def test_a_cancelled_appointment_keeps_its_status(ghl, org, connection, booked):
    appointment_cancel(organization=org, appointment=booked.appointment)
    with pytest.raises(ValidationError) as err:
        appointment_change_details(appointment=Appointment.objects.get(pk=booked.appointment.pk), status="confirmed")
    assert "book a new one" in err.value.message_dict["status"][0]


def test_a_staff_edit_in_admin_changes_details_only_and_is_pushed(ghl, org, connection, booked, admin_client):
    appt = booked.appointment
    data = {"title": "Cleaning (staff)", "status": "showed", "notes": "",
            f"{INLINE}-TOTAL_FORMS": "0", f"{INLINE}-INITIAL_FORMS": "0"}

    response = admin_client.post(f"/admin/crm/appointment/{appt.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    outbox_push_pending(connection_id=connection.pk)
    remote = in_ghl(ghl, booked.external_id)
    assert (remote["title"], remote["appointmentStatus"]) == ("Cleaning (staff)", "showed")
    # times cannot be edited here (they are the booking commands' business)
    page = admin_client.get(f"/admin/crm/appointment/{appt.pk}/change/").content.decode()
    assert 'name="starts_at' not in page and 'name="title"' in page
    # a status the service refuses is a form error, nothing saved
    response = admin_client.post(f"/admin/crm/appointment/{appt.pk}/change/", {**data, "status": "cancelled"})
    assert response.status_code == 200 and "cancel command" in response.content.decode()
    assert Appointment.objects.get(pk=appt.pk).status == "showed"


def test_details_changed_while_disconnected_wait_and_reach_ghl_once_after_the_reconnect(ghl, org, connection, booked):
    from ghl_integration.calendars.reconcile import appointments_reconcile
    from ghl_integration.connections import connection_disconnect
    from tests.factories import sandbox_connect

    # given: the location disconnected, then the appointment renamed here (queued to its own account, waiting)
    connection_disconnect(connection=connection)
    appt, _ = appointment_change_details(appointment=booked.appointment, title="Cleaning (offline)")
    assert not any(outbox_push_pending(connection_id=connection.pk).values())  # nothing leaves meanwhile
    ghl.control.clear_request_log()

    # when: connected again, the reconciliation it queues runs, then the push worker
    again = sandbox_connect(ghl, organization=org, location_id=LOCATION)
    appointments_reconcile(connection=again, full=True)
    outbox_push_pending(connection_id=again.pk)

    # then: GHL's older title did not undo ours, which reached GHL in one PUT
    appt.refresh_from_db()
    assert (appt.title, in_ghl(ghl, booked.external_id)["title"]) == ("Cleaning (offline)", "Cleaning (offline)")
    assert len(puts(ghl)) == 1
