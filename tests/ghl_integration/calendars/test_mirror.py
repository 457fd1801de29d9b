from unittest import mock

import pytest

from crm.models import Calendar
from ghl_integration.calendars.mirror import calendars_refresh, calendars_refresh_queue_all, calendars_sync_on_connect
from ghl_sandbox import constants as sbx
from tests.factories import GhlConnectionFactory

from .conftest import LOCATION


def test_calendars_mirrored_with_zone_rules_and_team(ghl, org, connection):
    ghl.control.change("calendar.create", locationId=LOCATION, name="Implants", calendarType="round_robin",
                       slotDuration=1, slotDurationUnit="hours", slotInterval=15, slotIntervalUnit="mins",
                       allowCancellation=False, openHours=[{"daysOfTheWeek": [2, 4], "hours": [
                           {"openHour": 8, "openMinute": 30, "closeHour": 12, "closeMinute": 0}]}])

    result = calendars_refresh(connection=connection)

    assert result.upserted == 2 and result.archived == 0
    implants = Calendar.objects.for_org(org).get(name="Implants")
    assert implants.timezone == "America/New_York"  # the location's zone
    assert (implants.calendar_type, implants.slot_duration_minutes, implants.slot_interval_minutes) == (
        "round_robin", 60, 15)
    assert implants.open_hours == [{"days": [2, 4], "hours": [{"open": "08:30", "close": "12:00"}]}]
    assert implants.allow_cancellation is False and implants.allow_reschedule is True
    assert [m["external_id"] for m in implants.team_members] and implants.team_members[0]["is_primary"] is True
    demo = Calendar.objects.for_org(org).get(name="Consultations")
    assert demo.open_hours[0]["days"] == [1, 2, 3, 4, 5] and demo.slot_duration_minutes == 30


def test_refresh_updates_in_place_and_archives_what_ghl_dropped(ghl, org, connection):
    calendars_refresh(connection=connection)
    ghl.control.change("calendar.update", calendarId=sbx.DEMO_CALENDAR_ID, name="Consults", slotDuration=45,
                       allowReschedule=False)
    with mock.patch("ghl_integration.client.calendars.CalendarsApi.list", return_value=[]):
        gone = calendars_refresh(connection=connection)
    assert gone.archived == 1 and Calendar.objects.for_org(org).get().is_archived

    calendars_refresh(connection=connection)

    cal = Calendar.objects.for_org(org).get()  # the same row, restored, not a second calendar
    assert (cal.name, cal.slot_duration_minutes, cal.allow_reschedule, cal.is_archived) == (
        "Consults", 45, False, False)


def test_refresh_all_queues_one_task_per_location_and_a_failing_one_stops_no_other(ghl, org, connection):
    from ghl_integration.calendars.tasks import calendars_refresh_task

    other = GhlConnectionFactory()  # another location; an agency and a disconnected one have no calendars to read
    GhlConnectionFactory(agency=True)
    GhlConnectionFactory(status="disconnected")
    with mock.patch.object(calendars_refresh_task, "delay") as delay:
        assert calendars_refresh_queue_all() == 2
    queued = sorted(call.args[0] for call in delay.call_args_list)
    assert queued == sorted([connection.pk, other.pk])

    with mock.patch("ghl_integration.calendars.tasks.calendars_refresh", side_effect=[RuntimeError("boom"), None]) \
            as refresh:
        with pytest.raises(RuntimeError):
            calendars_refresh_task(queued[0])
        calendars_refresh_task(queued[1])  # its own task: the first one's failure changes nothing for it
    assert [call.kwargs["connection"].pk for call in refresh.call_args_list] == queued


def test_on_connect_hook_queues_the_refresh_after_commit(ghl, org, connection, django_capture_on_commit_callbacks):
    with mock.patch("ghl_integration.calendars.tasks.calendars_refresh_task.delay") as delay, \
            mock.patch("ghl_integration.calendars.tasks.appointments_reconcile_task.delay"):
        with django_capture_on_commit_callbacks(execute=True):
            calendars_sync_on_connect(connection=connection)
    delay.assert_called_once_with(connection.pk)


def test_beat_schedules_the_refresh(db):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_periodic_tasks", stdout=mock.Mock())
    task = PeriodicTask.objects.get(task="ghl_integration.calendars.refresh_all_calendars")
    assert task.crontab.minute == "29" and task.enabled
