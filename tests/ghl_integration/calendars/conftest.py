"""A connected demo location with its calendars mirrored, and contacts that exist on both sides."""
import time

import pytest

from crm.models import Calendar, Contact
from crm.services.external_ids import external_id_link
from ghl_integration.calendars.mirror import calendars_refresh
from ghl_integration.connections import connection_connect_from_code
from ghl_integration.models import GhlConnection
from ghl_sandbox import constants as sbx
from tenancy.services import organization_create, user_create

LOCATION = sbx.DEMO_LOCATION_ID


@pytest.fixture
def ghl(sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    return sandbox


@pytest.fixture
def org(db):
    owner = user_create(username="owner", password="pw-owner-123456")
    return organization_create(name="Demo Dental", owner=owner)


@pytest.fixture
def connection(ghl, org, settings) -> GhlConnection:
    code = ghl.control.issue_code(locationId=LOCATION, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    owner = org.memberships.first().user
    return connection_connect_from_code(organization=org, user=owner, code=code).connection


def every_day(open_hour: int = 9, close_hour: int = 17) -> list[dict]:
    return [{"daysOfTheWeek": [0, 1, 2, 3, 4, 5, 6],
             "hours": [{"openHour": open_hour, "openMinute": 0, "closeHour": close_hour, "closeMinute": 0}]}]


@pytest.fixture
def make_calendar(ghl, connection):
    """A GHL calendar (any CalendarDTO fields; open every day 09-17, no booking window by default), mirrored."""

    def make(**fields) -> tuple[Calendar, dict]:
        fields.setdefault("openHours", every_day())
        fields.setdefault("allowBookingFor", 0)
        remote = ghl.control.change("calendar.create", locationId=LOCATION, name=fields.pop("name", "Cleanings"),
                                    **fields)["calendar"]
        calendars_refresh(connection=connection)
        from crm.selectors.external_ids import local_object_for_external_id

        local = local_object_for_external_id(model=Calendar, provider="ghl", account_id=LOCATION,
                                             external_id=remote["id"])
        return local, remote

    return make


@pytest.fixture
def make_contact(ghl, org, connection):
    """A contact in GHL and locally, linked (as the contact sync would leave it)."""

    def make(first_name: str = "Maria") -> tuple[Contact, str]:
        remote = ghl.control.change_contact("create", locationId=LOCATION, firstName=first_name,
                                            lastName="Lopez")["contact"]
        local = Contact.objects.create(organization=org, first_name=first_name, last_name="Lopez",
                                       full_name=f"{first_name} Lopez")
        external_id_link(obj=local, provider="ghl", account_id=LOCATION, external_id=remote["id"],
                         connection_id=connection.pk)
        return local, remote["id"]

    return make


def ghl_appointments(ghl, calendar_id: str) -> list[dict]:
    return [a for a in ghl.control.objects("appointment", location_id=LOCATION) if a["calendarId"] == calendar_id]


@pytest.fixture
def receiver(ghl):
    """The sandbox delivers its webhooks to a recording endpoint; `deliver` feeds them to the product's inbox."""
    from ghl_sandbox.testing import WebhookReceiver

    with WebhookReceiver() as rx:
        ghl.control.webhooks(urls=[rx.url], retry_spacing_s=0.2)
        yield rx


def appointment_deliveries(rx, count: int) -> list[dict]:
    """Wait for ``count`` Appointment* deliveries and return them (raw, as received), in arrival order."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = [r for r in rx.received if str(r["json"].get("type", "")).startswith("Appointment")]
        if len(items) >= count:
            return items
        time.sleep(0.05)
    raise AssertionError(f"expected {count} appointment webhooks, got {len(items)}")


def deliver(items: list[dict], django_capture_on_commit_callbacks) -> list[str]:
    """Receive (verify, dedup, store) and process each delivery in the given order, running what each commit
    queues (events, cache drops) as a real commit would."""
    from ghl_integration.webhooks.processing import webhook_event_process
    from ghl_integration.webhooks.services import webhook_receive

    statuses = []
    for item in items:
        with django_capture_on_commit_callbacks(execute=True):
            result = webhook_receive(body=item["body"], headers=item["headers"])
            assert result.status_code == 200, result.data
            if result.data.get("status") == "accepted":
                statuses.append(webhook_event_process(event_id=result.data["id"]).status)
            else:
                statuses.append(result.data["status"])
    return statuses


@pytest.fixture
def business_events():
    """Every crm business event sent during the test: [(event, data), ...]."""
    from crm import events

    seen: list[tuple[str, dict]] = []

    def receiver(**kwargs):
        seen.append((kwargs["event"], kwargs["data"]))

    events.business_event.connect(receiver, weak=False, dispatch_uid="test-appointment-events")
    yield seen
    events.business_event.disconnect(dispatch_uid="test-appointment-events")
