"""The exact requests the GHL calendar backend sends (`responses`; each checked against GHL's OpenAPI spec)."""
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import responses

from crm.calendar_backend import BackendRejected, BackendSlotTaken
from ghl_integration.calendars.backend import GhlCalendarBackend
from ghl_integration.models import GhlConnection

from .conftest import BASE_URL, LOCATION_ID, api_fixture

CAL = "BqTwX8QFwXzpegMve9EQ"
NY = ZoneInfo("America/New_York")
START = datetime(2026, 11, 27, 10, tzinfo=NY)


@pytest.fixture
def backend(client):
    return GhlCalendarBackend(connection=GhlConnection(location_id=LOCATION_ID), calendar_external_id=CAL,
                              api=client.calendars)


def query(call) -> dict:
    return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_create_sends_calendar_contact_times_with_offset_and_title(rsps, backend):
    rsps.add(responses.POST, f"{BASE_URL}/calendars/events/appointments", json=api_fixture("appointment"))

    got = backend.appointment_create(contact_external_id="ocQHyuzHvysMo5N5VsXc", starts_at=START,
                                     ends_at=START + timedelta(minutes=30), title="Discovery call", notes="hi")

    body = json.loads(rsps.calls[0].request.body)
    assert body == {"calendarId": CAL, "contactId": "ocQHyuzHvysMo5N5VsXc", "locationId": LOCATION_ID,
                    "startTime": "2026-11-27T10:00:00-05:00", "endTime": "2026-11-27T10:30:00-05:00",
                    "title": "Discovery call", "description": "hi"}
    assert rsps.calls[0].request.headers["Version"] == "2021-04-15"
    assert got.external_id == "0TkCdp9PfvLeWKYRRvIz" and got.starts_at == START and got.status == "confirmed"


def test_a_taken_slot_and_other_refusals_are_told_apart(rsps, backend):
    taken = {"statusCode": 400, "message": "The slot you have selected is no longer available."}
    rsps.add(responses.POST, f"{BASE_URL}/calendars/events/appointments", json=taken, status=400)
    rsps.add(responses.POST, f"{BASE_URL}/calendars/events/appointments", status=422,
             json={"statusCode": 422, "message": ["contactId should not be empty"]})
    kwargs = dict(contact_external_id="c1", starts_at=START, ends_at=START + timedelta(minutes=30), title="",
                  notes="")

    with pytest.raises(BackendSlotTaken):
        backend.appointment_create(**kwargs)
    with pytest.raises(BackendRejected, match="contactId should not be empty"):
        backend.appointment_create(**kwargs)
    assert len(rsps.calls) == 2  # a refused POST is never retried


def test_reschedule_and_cancel_send_only_what_changes(rsps, backend):
    url = f"{BASE_URL}/calendars/events/appointments/0TkCdp9PfvLeWKYRRvIz"
    rsps.add(responses.PUT, url, json=api_fixture("appointment"))
    rsps.add(responses.PUT, url, json={**api_fixture("appointment"), "appointmentStatus": "cancelled"})

    backend.appointment_update("0TkCdp9PfvLeWKYRRvIz", starts_at=START, ends_at=START + timedelta(minutes=30))
    cancelled = backend.appointment_update("0TkCdp9PfvLeWKYRRvIz", status="cancelled")

    assert json.loads(rsps.calls[0].request.body) == {"startTime": "2026-11-27T10:00:00-05:00",
                                                      "endTime": "2026-11-27T10:30:00-05:00"}
    assert json.loads(rsps.calls[1].request.body) == {"appointmentStatus": "cancelled"}
    assert cancelled.status == "cancelled"


def test_events_lookup_is_by_calendar_and_epoch_ms_window(rsps, backend):
    rsps.add(responses.GET, f"{BASE_URL}/calendars/events", json=api_fixture("calendar_events"))

    backend.appointments_between(start=START, end=START + timedelta(minutes=30))

    assert query(rsps.calls[0]) == {"locationId": LOCATION_ID, "calendarId": CAL,
                                    "startTime": str(int(START.timestamp() * 1000)),
                                    "endTime": str(int(START.timestamp() * 1000) + 1_800_000)}


def test_free_slots_over_31_days_are_asked_in_pieces_that_do_not_overlap(rsps, backend):
    rsps.add(responses.GET, f"{BASE_URL}/calendars/{CAL}/free-slots", json=api_fixture("free_slots"))
    rsps.add(responses.GET, f"{BASE_URL}/calendars/{CAL}/free-slots", json=api_fixture("free_slots"))
    start = START
    end = start + timedelta(days=40)

    backend.free_slots(start=start, end=end)

    first, second = (query(call) for call in rsps.calls)
    ms = int(start.timestamp() * 1000)
    assert (int(first["startDate"]), int(first["endDate"])) == (ms, ms + 31 * 86_400_000 - 1)
    assert (int(second["startDate"]), int(second["endDate"])) == (ms + 31 * 86_400_000,
                                                                  int(end.timestamp() * 1000) - 1)
    assert "timezone" not in first  # slots come in the location's zone, with offsets
