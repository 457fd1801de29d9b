"""Appointment reconciliation against the sandbox over HTTP: what webhooks missed is repaired, by start-time window."""
from datetime import datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

from crm import events
from crm.models import Appointment, Calendar
from crm.selectors.external_ids import local_object_for_external_id
from crm.services.appointments import appointment_book
from crm.sync.models import SyncRun
from ghl_integration.calendars.reconcile import appointments_reconcile
from tests.calendar_time import next_weekday

from .conftest import LOCATION

NY = ZoneInfo("America/New_York")


def at(day, hour, minute=0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


def local(external_id: str) -> Appointment | None:
    return local_object_for_external_id(model=Appointment, provider="ghl", account_id=LOCATION,
                                        external_id=external_id)


def book_in_ghl(ghl, calendar_id: str, contact_ext: str, start: datetime) -> dict:
    return ghl.control.change("appointment.book", locationId=LOCATION, calendarId=calendar_id,
                              contactId=contact_ext, startTime=start.isoformat(), ignoreDateRange=True)["appointment"]


def reconcile(connection, django_capture_on_commit_callbacks, **kw):
    with django_capture_on_commit_callbacks(execute=True):
        return appointments_reconcile(connection=connection, **kw)


def test_reconciliation_repairs_what_the_webhooks_missed_and_logs_its_cost(
        ghl, org, connection, make_calendar, make_contact, business_events, django_capture_on_commit_callbacks):
    # given: no webhook reaches us; we booked two appointments, then in GHL one was deleted and the other marked
    # no-show, and someone booked a third on the widget
    day = next_weekday(NY, 2)
    cal, remote_cal = make_calendar()
    contact, contact_ext = make_contact()
    reconcile(connection, django_capture_on_commit_callbacks)  # the location's first pass (its import)
    deleted = appointment_book(organization=org, calendar=cal, contact=contact, start_time=at(day, 9))
    noshow = appointment_book(organization=org, calendar=cal, contact=contact, start_time=at(day, 10))
    ghl.control.change("appointment.delete", eventId=deleted.external_id)
    ghl.control.change("appointment.update", eventId=noshow.external_id, appointmentStatus="noshow")
    widget = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 11))
    ghl.control.clear_request_log()

    # when
    result = reconcile(connection, django_capture_on_commit_callbacks)

    # then: the three are as in GHL
    assert Appointment.objects.get(pk=deleted.appointment.pk).is_archived
    assert Appointment.objects.get(pk=noshow.appointment.pk).status == "noshow"
    assert (local(widget["id"]).contact_id, local(widget["id"]).starts_at) == (contact.pk, at(day, 11))
    assert Appointment.objects.for_org(org).filter(is_archived=False).count() == 2
    announced = [(name, data["external_id"]) for name, data in business_events]
    assert announced == [(events.APPOINTMENT_NO_SHOW, noshow.external_id),
                         (events.APPOINTMENT_BOOKED, widget["id"]),
                         (events.APPOINTMENT_CANCELLED, deleted.external_id)]
    # and the run, with its cost, is in the sync log
    run = SyncRun.objects.filter(object_type="appointment").order_by("-pk").first()
    assert (run.kind, run.status) == ("reconcile", "succeeded")
    assert (run.created, run.updated, run.archived) == (1, 1, 1)
    requests = ghl.control.request_log()
    assert run.cursor["requests"] == result.requests == len(requests)
    # two for the calendars, one listing per calendar per 31 days of the 62-day window, one GET for the vanished
    calendars = Calendar.objects.for_org(org).filter(is_archived=False).count()
    assert len([r for r in requests if r["path"] == "/calendars/events"]) == 2 * calendars
    assert len([r for r in requests if r["path"].startswith("/calendars/events/appointments/")]) == 1

    # when: nothing changed since, a second run writes nothing and announces nothing
    again = reconcile(connection, django_capture_on_commit_callbacks)
    assert again.counts == {"unchanged": 2}
    assert len(business_events) == 3


def test_staff_read_the_runs_and_their_cost_in_admin(ghl, org, connection, make_calendar, admin_client,
                                                     django_capture_on_commit_callbacks):
    make_calendar()
    result = reconcile(connection, django_capture_on_commit_callbacks)

    page = admin_client.get("/admin/crm/syncrun/", {"object_type": "appointment"}).content.decode()

    assert "appointment" in page and f'<td class="field-requests">{result.requests}</td>' in page


def test_the_first_pass_imports_what_exists_without_announcing_it(
        ghl, org, connection, make_calendar, make_contact, business_events, django_capture_on_commit_callbacks):
    # given: a location connected with appointments already booked
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    day = next_weekday(NY, 2)
    existing = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 9))

    first = reconcile(connection, django_capture_on_commit_callbacks, full=True)

    assert local(existing["id"]).status == "confirmed" and first.run.cursor["import"] is True
    assert business_events == []
    # then a booking made afterwards (its webhook lost) is news
    later = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 10))
    reconcile(connection, django_capture_on_commit_callbacks)
    assert [(name, data["external_id"]) for name, data in business_events] == [
        (events.APPOINTMENT_BOOKED, later["id"])]


def test_connecting_a_location_queues_the_calendars_and_a_full_appointment_pass(
        ghl, org, connection, django_capture_on_commit_callbacks):
    from ghl_integration.calendars.mirror import calendars_sync_on_connect

    with mock.patch("ghl_integration.calendars.tasks.calendars_refresh_task.delay") as refresh, \
            mock.patch("ghl_integration.calendars.tasks.appointments_reconcile_task.delay") as appointments:
        with django_capture_on_commit_callbacks(execute=True):
            calendars_sync_on_connect(connection=connection)
    refresh.assert_called_once_with(connection.pk)
    appointments.assert_called_once_with(connection.pk, full=True)


def test_the_connect_flow_queues_them_when_first_pulls_are_on(ghl, org, settings,
                                                             django_capture_on_commit_callbacks):
    from ghl_integration.connections import connection_connect_from_code

    settings.GHL_SYNC_PULL_ON_CONNECT = True
    code = ghl.control.issue_code(locationId=LOCATION, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    with mock.patch("ghl_integration.calendars.tasks.calendars_refresh_task.delay") as refresh, \
            mock.patch("ghl_integration.calendars.tasks.appointments_reconcile_task.delay") as appointments, \
            mock.patch("ghl_integration.contacts.tasks.contacts_initial_pull_task.delay"), \
            mock.patch("ghl_integration.opportunities.tasks.opportunities_pull_task.delay"), \
            django_capture_on_commit_callbacks(execute=True):
        connection = connection_connect_from_code(organization=org, user=org.memberships.first().user,
                                                  code=code).connection
    refresh.assert_called_once_with(connection.pk)
    appointments.assert_called_once_with(connection.pk, full=True)


def test_the_incremental_window_is_by_start_time_and_the_full_pass_reaches_further(
        ghl, org, connection, make_calendar, make_contact, django_capture_on_commit_callbacks):
    # given: an appointment 120 days ahead, booked in GHL with no webhook
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    far = next_weekday(NY, 2) + timedelta(days=119)
    remote = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(far, 9))

    # when / then: the 15-minute run's window does not reach it, the nightly full pass does
    reconcile(connection, django_capture_on_commit_callbacks)
    assert local(remote["id"]) is None
    full = reconcile(connection, django_capture_on_commit_callbacks, full=True)
    assert local(remote["id"]).starts_at == at(far, 9)
    assert full.run.cursor["full"] is True and full.counts == {"created": 1}


def test_an_appointment_moved_out_of_the_window_is_followed_not_archived(
        ghl, org, connection, make_calendar, make_contact, django_capture_on_commit_callbacks):
    day = next_weekday(NY, 2)
    cal, remote_cal = make_calendar()
    contact, _ = make_contact()
    booked = appointment_book(organization=org, calendar=cal, contact=contact, start_time=at(day, 9))
    later = day + timedelta(days=100)
    ghl.control.change("appointment.update", eventId=booked.external_id, startTime=at(later, 9).isoformat(),
                       ignoreDateRange=True)

    reconcile(connection, django_capture_on_commit_callbacks)

    appt = Appointment.objects.get(pk=booked.appointment.pk)
    assert not appt.is_archived and appt.starts_at == at(later, 9)


def test_reconciliation_refreshes_the_calendars(ghl, org, connection, make_calendar,
                                                django_capture_on_commit_callbacks):
    cal, remote_cal = make_calendar()
    ghl.control.change("calendar.update", calendarId=remote_cal["id"], name="Hygiene", slotDuration=45)

    reconcile(connection, django_capture_on_commit_callbacks)

    cal.refresh_from_db()
    assert (cal.name, cal.slot_duration_minutes) == ("Hygiene", 45)


def test_one_appointment_that_cannot_be_applied_does_not_stop_the_run(
        ghl, org, connection, make_calendar, make_contact, django_capture_on_commit_callbacks):
    day = next_weekday(NY, 2)
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    good = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 9))
    bad = book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 10))
    from ghl_integration.calendars import reconcile as reconcile_module

    real = reconcile_module.appointment_apply_ghl

    def broken_for_bad(**kwargs):
        if kwargs["appointment"]["id"] == bad["id"]:
            kwargs["appointment"] = {**kwargs["appointment"], "startTime": "not a time"}
        return real(**kwargs)

    with mock.patch.object(reconcile_module, "appointment_apply_ghl", broken_for_bad):
        result = reconcile(connection, django_capture_on_commit_callbacks)

    assert local(good["id"]) is not None and local(bad["id"]) is None
    assert result.run.status == "succeeded" and result.run.failed == 1 and result.run.refused == 1
    assert result.run.refusal_samples[0]["external_id"] == bad["id"]


def test_the_beat_schedules_the_15_minute_runs_and_the_nightly_full_pass(db):
    import json

    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_periodic_tasks", stdout=mock.Mock())
    scheduled = PeriodicTask.objects.filter(task="ghl_integration.calendars.reconcile_all_appointments")
    tasks = {t.name: t for t in scheduled}
    assert tasks["ghl: reconcile appointments"].crontab.minute == "3,18,33,48"
    assert json.loads(tasks["ghl: reconcile appointments"].kwargs) == {}
    nightly = tasks["ghl: appointments full pass"]
    assert (nightly.crontab.minute, nightly.crontab.hour, json.loads(nightly.kwargs)) == ("53", "3", {"full": True})


def test_the_task_runs_one_reconciliation_per_connection(ghl, org, connection, make_calendar):
    from ghl_integration.calendars.tasks import appointments_reconcile_all_task

    make_calendar()
    with mock.patch("ghl_integration.calendars.tasks.appointments_reconcile_task.delay") as delay:
        assert appointments_reconcile_all_task(full=True) == 1
    delay.assert_called_once_with(connection.pk, full=True)


def test_dropped_duplicated_and_reordered_webhooks_then_reconciliation_end_identical_announced_once(
        ghl, org, connection, make_calendar, make_contact, receiver, business_events,
        django_capture_on_commit_callbacks):
    from collections import Counter

    from .conftest import deliver

    # given: an imported location; then, with a fifth of the webhooks dropped, duplicated or reordered, ten
    # bookings in GHL, some moved, renamed, marked no-show, cancelled or deleted
    day = next_weekday(NY, 3)
    cal, remote_cal = make_calendar()
    _, contact_ext = make_contact()
    reconcile(connection, django_capture_on_commit_callbacks)
    ghl.control.faults(seed=7, webhook={"drop": 0.2, "duplicate": 0.2, "reorder": 0.2})
    ids = [book_in_ghl(ghl, remote_cal["id"], contact_ext, at(day, 9 + i // 2, 30 * (i % 2)))["id"]
           for i in range(10)]
    for event_id in ids[0:2]:
        ghl.control.change("appointment.update", eventId=event_id, appointmentStatus="noshow")
    for event_id in ids[2:4]:
        ghl.control.change("appointment.cancel", eventId=event_id)
    ghl.control.change("appointment.delete", eventId=ids[4])
    ghl.control.change("appointment.update", eventId=ids[5], title="Renamed",
                       startTime=at(day, 16).isoformat())
    assert ghl.control.wait_webhooks(timeout=15)
    assert ghl.control.webhook_deliveries(outcome="dropped")  # the faults did bite
    items = [r for r in receiver.received if str(r["json"].get("type", "")).startswith("Appointment")]

    # when: what arrived is processed in the order it arrived, then the next reconciliation runs
    deliver(items, django_capture_on_commit_callbacks)
    reconcile(connection, django_capture_on_commit_callbacks)

    # then: the mirror equals GHL
    remote = {a["id"]: a for a in ghl.control.objects("appointment", location_id=LOCATION)}
    for event_id in ids:
        appt = local(event_id)
        if event_id not in remote:
            assert appt is None or appt.is_archived
            continue
        assert (appt.status, appt.starts_at, appt.title, appt.is_archived) == (
            remote[event_id]["appointmentStatus"], datetime.fromisoformat(remote[event_id]["startTime"]),
            remote[event_id]["title"], False)
    # and no change was announced twice; every no-show once
    announced = Counter((name, data["external_id"]) for name, data in business_events)
    assert max(announced.values()) == 1
    assert {e for (name, e) in announced if name == events.APPOINTMENT_NO_SHOW} == set(ids[0:2])
    assert {e for (name, e) in announced if name == events.APPOINTMENT_BOOKED} <= set(ids)


def test_a_run_out_of_time_hands_over_and_the_follow_ups_finish_it_once(
        ghl, org, connection, make_calendar, make_contact, monkeypatch, django_capture_on_commit_callbacks):
    # given: three calendars with a booking each that no webhook brought; every task out of time after one calendar
    from ghl_integration.calendars import reconcile as reconcile_module
    from ghl_integration.calendars import tasks

    day = next_weekday(NY, 2)
    _, contact_ext = make_contact()
    remotes = [make_calendar(name=f"Chair {i}")[1] for i in range(3)]
    reconcile(connection, django_capture_on_commit_callbacks)  # the location's first pass (its import)
    booked = [book_in_ghl(ghl, remote["id"], contact_ext, at(day, 9 + i)) for i, remote in enumerate(remotes)]
    monkeypatch.setattr(reconcile_module, "BUDGET_SECONDS", 0)
    calendars = Calendar.objects.for_org(org).filter(is_archived=False).count()
    ghl.control.clear_request_log()

    # when: the task, then each follow-up it queues, as workers would
    queued: list[tuple] = []
    task = tasks.appointments_reconcile_task
    with mock.patch.object(task, "apply_async", side_effect=lambda args: queued.append(tuple(args))), \
            django_capture_on_commit_callbacks(execute=True):
        task(connection.pk)
        for args in queued:  # grows while the follow-ups run
            task(*args)

    # then: one run, one task per calendar, each calendar's window listed once, every booking here
    runs = SyncRun.objects.filter(object_type="appointment", kind="reconcile").order_by("pk")
    run = runs.last()
    assert runs.count() == 2 and run.status == "succeeded"
    assert [number for *_, number in queued] == list(range(1, calendars))
    listings = [r for r in ghl.control.request_log() if r["path"] == "/calendars/events"]
    assert len(listings) == 2 * calendars  # two 31-day pieces of the window per calendar, read once
    assert all(local(b["id"]) is not None for b in booked) and run.created == 3
    assert "done" not in run.cursor and run.cursor["requests"] >= len(listings)

    # and: a redelivered follow-up does nothing
    ghl.control.clear_request_log()
    task(*queued[0])
    assert ghl.control.request_log() == [] and runs.count() == 2
