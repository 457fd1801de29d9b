"""Many callers racing for one slot, in real transactions (PostgreSQL): one booking, the rest conflicts."""
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection as db_connection

from crm.models import Appointment
from crm.services.appointment_errors import AppointmentConflict
from crm.services.appointments import appointment_book
from tests.calendar_time import next_weekday
from tests.concurrency import run_at_once

from .conftest import ghl_appointments

NY = ZoneInfo("America/New_York")


@pytest.mark.django_db(transaction=True)
def test_racing_callers_book_one_slot_once(ghl, org, make_calendar, make_contact):
    if db_connection.vendor != "postgresql":
        pytest.skip("the booking lock is PostgreSQL's; SQLite serialises writers anyway")
    cal, remote_cal = make_calendar()
    ghl.control.faults(api={"booking_race_ms": 300})  # GHL holds no slot: racing creates both pass its check
    contacts = [make_contact(f"C{i}")[0] for i in range(6)]
    day = next_weekday(NY, 2)
    start = datetime(day.year, day.month, day.day, 11, tzinfo=NY).isoformat()
    picks = iter(contacts)
    guard = threading.Lock()
    outcomes = []

    def work():
        with guard:
            contact = next(picks)
        result = appointment_book(organization=org, calendar=cal, contact=contact, start_time=start)
        outcomes.append(result)

    errors = run_at_once(len(contacts), work)

    assert len(outcomes) == 1 and len(errors) == 5 and all(isinstance(e, AppointmentConflict) for e in errors)
    assert len([a for a in ghl_appointments(ghl, remote_cal["id"]) if a["appointmentStatus"] != "cancelled"]) == 1
    assert Appointment.objects.for_org(org).count() == 1
