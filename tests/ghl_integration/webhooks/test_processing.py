"""The worker side: routing, statuses, retries with backoff, dead letters, claims, ordering."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from ghl_integration.models import GhlConnection, WebhookEvent
from ghl_integration.webhooks import processing
from ghl_integration.webhooks.handlers.base import PermanentWebhookError, RetryableWebhookError

from .conftest import LOCATION_ID, fresh, load_example

pytestmark = pytest.mark.django_db
S = WebhookEvent.Status


def stored(deliver_payload, name="ContactCreate.json", **overrides) -> WebhookEvent:
    response = deliver_payload(fresh(load_example(name), **overrides))
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


def test_handled_event_with_active_connection_is_processed(
    deliver_payload, broker, active_connection, register_handler
):
    # given
    connection = active_connection()
    seen = []
    register_handler("ContactCreate", lambda event, payload: seen.append((event, payload)))
    event = stored(deliver_payload)

    # when
    assert broker.run_all() == ["processed"]

    # then
    event.refresh_from_db()
    assert event.status == S.PROCESSED
    assert event.attempts == 1
    assert event.processed_at is not None
    assert event.connection == connection
    assert event.organization_id == connection.organization_id
    ((handled, payload),) = seen
    assert handled.pk == event.pk
    assert handled.connection == connection
    assert handled.delivered_at == event.delivered_at is not None
    assert payload["id"] == "Ct7HqP2sW9dF4gJkL1mZ"


def test_family_event_without_handler_is_ignored_quietly(deliver_payload, broker, active_connection, caplog,
                                                         monkeypatch):
    from ghl_integration.webhooks import dispatch

    # A family's event whose handler is not written yet (every family has its handlers by now: take one away).
    monkeypatch.delitem(dispatch.EVENT_HANDLERS, "OpportunityCreate")
    active_connection()
    event = stored(deliver_payload, "OpportunityCreate.json")
    with caplog.at_level(logging.INFO):
        broker.run_all()
    event.refresh_from_db()
    assert event.status == S.IGNORED
    assert "ghl.webhook.unsupported-event" not in caplog.messages


def test_deliberately_ignored_event_is_ignored_quietly(deliver_payload, broker, caplog):
    event = stored(deliver_payload, "InvoicePaid.json")
    with caplog.at_level(logging.INFO):
        broker.run_all()
    event.refresh_from_db()
    assert (event.event_type, event.status) == ("InvoiceEvent", S.IGNORED)
    assert "ghl.webhook.unsupported-event" not in caplog.messages


def test_unknown_event_is_ignored_and_logged(deliver_payload, broker, caplog):
    event = stored(deliver_payload, type="BrandNewEvent")
    with caplog.at_level(logging.INFO):
        broker.run_all()
    event.refresh_from_db()
    assert event.status == S.IGNORED
    assert "ghl.webhook.unsupported-event" in caplog.messages


@pytest.mark.parametrize(
    "connection_status", [None, GhlConnection.Status.DISCONNECTED, GhlConnection.Status.UNINSTALLED]
)
def test_event_without_active_connection_is_skipped(
    connection_status, deliver_payload, broker, active_connection, register_handler
):
    if connection_status:
        active_connection(status=connection_status)
    active_connection(location_id="SomeOtherLocation")
    calls = register_handler("ContactCreate", lambda event, payload: pytest.fail("must not run"))
    assert calls
    event = stored(deliver_payload)
    assert broker.run_all() == ["skipped"]
    event.refresh_from_db()
    assert event.status == S.SKIPPED
    assert event.connection is None


@pytest.mark.parametrize("name", ["AppInstall.json", "AppInstall.Agency.json", "AppUninstall.Agency.json"])
def test_app_lifecycle_events_reach_their_handler_without_a_connection(name, deliver_payload, broker, register_handler):
    seen = []
    event_type = load_example(name)["type"]
    register_handler(event_type, lambda event, payload: seen.append(payload["appId"]))
    event = stored(deliver_payload, name)
    assert broker.run_all() == ["processed"]
    assert seen == ["66a1b2c3d4e5f60718293a4b"]
    event.refresh_from_db()
    assert event.status == S.PROCESSED


def test_retryable_failure_backs_off_then_dies_after_the_last_attempt(
    deliver_payload, broker, active_connection, register_handler, monkeypatch
):
    # given
    from ghl_integration.webhooks import tuning

    monkeypatch.setattr(tuning, "INBOX", tuning.InboxTuning(max_attempts=4, retry_base_seconds=10))
    active_connection()

    def flaky(event, payload):
        raise RetryableWebhookError("GHL answered 503")

    register_handler("ContactCreate", flaky)
    event = stored(deliver_payload)
    broker.sent.clear()

    # when / then: each failed attempt is queued again with a growing countdown
    countdowns = []
    for attempt in (1, 2, 3):
        assert broker.run(event.pk) == "failed"
        event.refresh_from_db()
        assert (event.status, event.attempts) == (S.FAILED, attempt)
        assert "GHL answered 503" in event.last_error
        assert event.next_attempt_at > timezone.now()
        ((queued_id, countdown),) = broker.sent
        broker.sent.clear()
        assert queued_id == event.pk
        countdowns.append(countdown)
    assert 9 <= countdowns[0] <= 11 and 18 <= countdowns[1] <= 22 and 36 <= countdowns[2] <= 44

    assert broker.run(event.pk) == "dead"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (S.DEAD, 4)
    assert broker.sent == []


def test_unexpected_exception_is_retried_not_lost(deliver_payload, broker, active_connection, register_handler):
    active_connection()
    attempts = []

    def buggy_then_fixed(event, payload):
        attempts.append(1)
        if len(attempts) == 1:
            raise KeyError("bug")

    register_handler("ContactCreate", buggy_then_fixed)
    event = stored(deliver_payload)
    assert broker.run_all() == ["failed", "processed"]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (S.PROCESSED, 2)


def test_permanent_failure_is_dead_at_once(deliver_payload, broker, active_connection, register_handler):
    active_connection()

    def broken(event, payload):
        raise PermanentWebhookError("contact has no id")

    register_handler("ContactCreate", broken)
    event = stored(deliver_payload)
    assert broker.run_all() == ["dead"]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (S.DEAD, 1)
    assert "contact has no id" in event.last_error


def test_handler_writes_are_rolled_back_when_it_fails(deliver_payload, broker, active_connection, register_handler):
    connection = active_connection(location_name="Clinic")

    def half_done(event, payload):
        GhlConnection.objects.filter(pk=connection.pk).update(location_name="changed")
        raise PermanentWebhookError("stop")

    register_handler("ContactCreate", half_done)
    stored(deliver_payload)
    broker.run_all()
    connection.refresh_from_db()
    assert connection.location_name == "Clinic"


def test_a_claimed_event_is_not_processed_by_a_second_worker(
    deliver_payload, broker, active_connection, register_handler
):
    active_connection()
    runs = []
    register_handler("ContactCreate", lambda event, payload: runs.append(event.pk))
    event = stored(deliver_payload)
    assert processing.webhook_event_claim(event_id=event.pk).attempts == 1  # worker A holds the claim

    assert broker.run(event.pk) == "not-claimed"  # worker B (duplicate message)
    assert runs == []

    # worker A dies; once the lease expires the event can be claimed again
    WebhookEvent.objects.filter(pk=event.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert broker.run(event.pk) == "processed"
    assert broker.run(event.pk) == "not-claimed"  # finished events are never rerun
    assert runs == [event.pk]


def test_missing_row_is_not_retried(broker):
    assert broker.run(987654) == "not-claimed"


def test_duplicate_delivery_is_processed_once(deliver_payload, broker, active_connection, register_handler):
    active_connection()
    runs = []
    register_handler("ContactCreate", lambda event, payload: runs.append(payload["webhookId"]))
    payload = fresh(load_example("ContactCreate.json"))
    for _ in range(3):
        assert deliver_payload(payload).status_code == 200
    broker.run_all()
    assert runs == [payload["webhookId"]]


def test_reordered_deliveries_give_handlers_what_they_need_to_keep_the_newest(
    deliver_payload, broker, active_connection, register_handler
):
    # A watermark handler, as the sync issues will write: apply only what is newer than what was applied.
    active_connection()
    applied = {}

    def watermark_handler(event, payload):
        current = applied.get(payload["id"])
        if current is None or event.delivered_at > current[0]:
            applied[payload["id"]] = (event.delivered_at, payload["city"])

    register_handler("ContactUpdate", watermark_handler)
    now = timezone.now()
    newer = fresh(load_example("ContactUpdate.json"), city="Newer", timestamp=now.isoformat())
    older = fresh(load_example("ContactUpdate.json"), city="Older", timestamp=(now - timedelta(minutes=5)).isoformat())

    # delivered (and processed) newest first
    deliver_payload(newer)
    deliver_payload(older)
    assert broker.run_all() == ["processed", "processed"]
    assert applied["Ct7HqP2sW9dF4gJkL1mZ"][1] == "Newer"
    assert WebhookEvent.objects.filter(status=S.PROCESSED).count() == 2


def test_unreadable_stored_body_is_dead_not_a_crash(broker):
    event = WebhookEvent.objects.create(
        event_type="ContactCreate", received_at=timezone.now(), queued_at=timezone.now(), body="[not json"
    )
    assert broker.run(event.pk) == "dead"
    event.refresh_from_db()
    assert "unreadable body" in event.last_error


def test_agency_event_matches_a_company_connection(deliver_payload, broker, active_connection, register_handler):
    connection = active_connection(location_id="", company_id="Cm4TzK8pQ1vR6wXyB3nJ", token_level="Company")
    seen = []
    register_handler("LocationUpdate", lambda event, payload: seen.append(event.connection))
    payload = fresh(load_example("LocationUpdate.json"))
    payload.pop("id")  # no location id at all: only the company identifies the tenant
    deliver_payload(payload)
    assert broker.run_all() == ["processed"]
    assert seen == [connection]


def test_location_id_is_what_routes_an_event(deliver_payload, broker, active_connection, register_handler):
    active_connection(location_id=LOCATION_ID)
    register_handler("ContactCreate", lambda event, payload: None)
    stored(deliver_payload, locationId="UnknownLocation")
    assert broker.run_all() == ["skipped"]
