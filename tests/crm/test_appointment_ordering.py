"""The order in which reports of one remote appointment are applied (`crm.services.appointment_sync`)."""
from datetime import UTC, datetime, timedelta

import pytest

from crm.calendar_backend import RemoteAppointment
from crm.models import Calendar
from crm.services.appointment_sync import STALE, UPDATED, appointment_apply_remote
from crm.services.external_ids import external_id_link
from tests.factories import ContactFactory

ACCOUNT = "loc-1"
SECOND = datetime(2026, 12, 4, 10, 0, 5, tzinfo=UTC)  # GHL's dateUpdated: whole seconds
START = datetime(2026, 12, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def apply(org_factory):
    org = org_factory()
    calendar = Calendar.objects.create(organization=org, name="Cleanings")
    contact = ContactFactory(organization=org)
    external_id_link(obj=calendar, provider="ghl", account_id=ACCOUNT, external_id="cal-1")
    external_id_link(obj=contact, provider="ghl", account_id=ACCOUNT, external_id="con-1")

    def run(status: str, *, updated_at: datetime, observed_at: datetime | None):
        remote = RemoteAppointment(external_id="appt-1", contact_external_id="con-1", starts_at=START,
                                   ends_at=START + timedelta(minutes=30), status=status,
                                   updated_at=updated_at, observed_at=observed_at)
        applied = appointment_apply_remote(organization=org, provider="ghl", account_id=ACCOUNT,
                                           calendar_external_id="cal-1", remote=remote)
        return applied.outcome, applied.appointment.status

    return run


def test_two_reports_of_one_second_delivered_in_the_same_millisecond_apply_in_arrival_order(apply):
    # GHL's delivery `timestamp` has milliseconds: two changes a few hundred microseconds apart share it.
    same_ms = SECOND + timedelta(milliseconds=421)
    apply("confirmed", updated_at=SECOND, observed_at=SECOND + timedelta(milliseconds=100))

    assert apply("showed", updated_at=SECOND, observed_at=same_ms) == (UPDATED, "showed")
    assert apply("cancelled", updated_at=SECOND, observed_at=same_ms) == (UPDATED, "cancelled")


def test_a_report_observed_earlier_in_the_same_second_is_stale(apply):
    apply("confirmed", updated_at=SECOND, observed_at=SECOND + timedelta(milliseconds=300))

    assert apply("new", updated_at=SECOND, observed_at=SECOND + timedelta(milliseconds=299)) == (STALE, "confirmed")


def test_a_report_of_an_earlier_second_is_stale_whenever_it_was_observed(apply):
    apply("cancelled", updated_at=SECOND, observed_at=SECOND)

    late = SECOND + timedelta(minutes=5)
    assert apply("confirmed", updated_at=SECOND - timedelta(seconds=1), observed_at=late) == (STALE, "cancelled")
