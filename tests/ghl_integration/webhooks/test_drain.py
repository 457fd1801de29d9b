"""The inbox drain: new events are claimed in batches, each processed once; the drain request is debounced."""

from unittest import mock

import pytest
from django.db import connection

from ghl_integration.models import WebhookEvent
from ghl_integration.webhooks import doorbell, maintenance, tuning
from ghl_integration.webhooks.processing import webhook_events_claim_received, webhook_inbox_drain
from tests.concurrency import rows_locked_elsewhere

from .conftest import fresh, load_example

S = WebhookEvent.Status
DELAY = 0.25
pytestmark = pytest.mark.django_db


def deliver_many(deliver_payload, names: list[str]) -> list[int]:
    return [deliver_payload(fresh(load_example(f"{name}.json"))).json()["id"] for name in names]


def test_drain_processes_every_waiting_event_in_batches(deliver_payload, broker, active_connection, register_handler):
    # given: 250 events of three kinds: handled (with a connection), deliberately ignored, and for a location
    # with no connection
    active_connection()
    runs = []
    register_handler("ContactUpdate", lambda event, payload: runs.append(event.pk))
    handled = deliver_many(deliver_payload, ["ContactUpdate"] * 100)
    ignored = deliver_many(deliver_payload, ["NoteCreate"] * 100)
    skipped = [
        deliver_payload(fresh(load_example("ContactUpdate.json"), locationId="SomeOtherLocation000")).json()["id"]
        for _ in range(50)
    ]

    # when
    with broker.capture_on_commit(execute=True):
        result = webhook_inbox_drain(batch_size=40)

    # then: each event ran once, in arrival order, and its outcome is recorded
    assert len(result.statuses) == 250
    assert sorted(runs) == handled
    assert not result.handed_over
    rows = {e.pk: e for e in WebhookEvent.objects.all()}
    assert {rows[pk].status for pk in handled} == {S.PROCESSED}
    assert {rows[pk].status for pk in ignored} == {S.IGNORED}
    assert {rows[pk].status for pk in skipped} == {S.SKIPPED}
    assert all(e.attempts == 1 and e.lease_expires_at is None and e.processed_at for e in rows.values())
    assert webhook_inbox_drain().statuses == []  # nothing is run twice


def test_drain_leaves_retries_and_live_claims_alone_and_takes_expired_claims(broker):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    common = {"event_type": "NoteCreate", "received_at": now, "queued_at": now, "body": "{}"}
    waiting = WebhookEvent.objects.create(status=S.RECEIVED, **common)
    retry_later = WebhookEvent.objects.create(status=S.FAILED, attempts=1, next_attempt_at=now, **common)
    held = WebhookEvent.objects.create(status=S.PROCESSING, attempts=1, lease_expires_at=now + timedelta(seconds=20),
                                       **common)
    stranded = WebhookEvent.objects.create(status=S.PROCESSING, attempts=1, lease_expires_at=now, **common)

    assert webhook_inbox_drain().statuses == [S.IGNORED, S.IGNORED]

    assert WebhookEvent.objects.get(pk=waiting.pk).status == S.IGNORED
    assert WebhookEvent.objects.get(pk=retry_later.pk).status == S.FAILED  # its own delayed message runs it
    assert WebhookEvent.objects.get(pk=held.pk).status == S.PROCESSING  # a live claim: another drain works on it
    assert WebhookEvent.objects.get(pk=stranded.pk).status == S.IGNORED  # its claimer died: taken again


def test_drain_hands_over_to_a_fresh_task_when_out_of_time(deliver_payload, broker):
    deliver_many(deliver_payload, ["NoteCreate"] * 5)
    broker.drains.clear()

    with broker.capture_on_commit(execute=True):
        result = webhook_inbox_drain(batch_size=2, max_seconds=0)

    assert result.statuses == [S.IGNORED, S.IGNORED]
    assert result.handed_over
    assert broker.drains == [None]  # the rest is left to the next drain
    assert WebhookEvent.objects.filter(status=S.RECEIVED).count() == 3
    assert broker.run_all() == [S.IGNORED] * 3


def test_handler_failure_in_a_batch_does_not_stop_the_others(
    deliver_payload, broker, active_connection, register_handler
):
    active_connection()

    def handler(event, payload):
        if payload.get("firstName") == "Broken":
            raise RuntimeError("bug")

    register_handler("ContactUpdate", handler)
    ok_before = deliver_many(deliver_payload, ["ContactUpdate"])
    broken = deliver_payload(fresh(load_example("ContactUpdate.json"), firstName="Broken")).json()["id"]
    ok_after = deliver_many(deliver_payload, ["ContactUpdate"])

    with broker.capture_on_commit(execute=True):
        statuses = webhook_inbox_drain().statuses

    assert statuses == [S.PROCESSED, S.FAILED, S.PROCESSED]
    assert [e for e, _ in broker.sent] == [broken]  # the failure is retried by its own delayed message
    assert WebhookEvent.objects.get(pk=broken).status == S.FAILED
    assert set(WebhookEvent.objects.filter(pk__in=ok_before + ok_after).values_list("status", flat=True)) == {
        S.PROCESSED
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_an_event():
    # given: another drain is in the middle of claiming the five oldest events
    from django.utils import timezone

    now = timezone.now()
    ids = [
        WebhookEvent.objects.create(event_type="NoteCreate", received_at=now, queued_at=now, body="{}").pk
        for _ in range(8)
    ]
    with rows_locked_elsewhere(WebhookEvent.objects.filter(pk__in=ids[:5])):
        # when
        claimed = webhook_events_claim_received(limit=10)

    # then: only the rows nobody else holds, without waiting for the lock
    assert [e.pk for e in claimed] == ids[5:]
    # and once the other transaction ends (here without claiming), its rows are claimable, exactly once
    assert [e.pk for e in webhook_events_claim_received(limit=10)] == ids[:5]
    assert webhook_events_claim_received(limit=10) == []
    assert set(WebhookEvent.objects.values_list("status", "attempts")) == {(S.PROCESSING, 1)}


class TestDebouncedDrainRequest:
    @pytest.fixture(autouse=True)
    def debounced(self, monkeypatch, broker):
        # On Redis when REDIS_URL is set (CI), else the local cache; the test's own pace must not end the burst.
        monkeypatch.setattr(tuning, "DOORBELL", tuning.DoorbellTuning(debounce=True, delay_seconds=DELAY,
                                                                      burst_window_seconds=60))
        self.forget_drains()
        yield
        self.forget_drains()

    @staticmethod
    def forget_drains():
        for key in (doorbell.DRAIN_QUEUED_FLAG, doorbell.DRAIN_STARTED_RECENTLY_FLAG):
            doorbell._flag_store().delete(key)

    def test_one_request_while_a_drain_is_queued(self, deliver_payload, broker):
        deliver_many(deliver_payload, ["NoteCreate"] * 5)
        assert broker.drains == [None]  # no drain ran lately: a lone event's drain starts at once

    def test_during_a_burst_the_next_drain_waits_so_it_claims_a_batch(self, deliver_payload, broker):
        deliver_many(deliver_payload, ["NoteCreate"])
        assert broker.run_all() == [S.IGNORED]  # a drain has just started

        deliver_many(deliver_payload, ["NoteCreate"] * 3)

        assert broker.drains == [DELAY]
        self.forget_drains()  # … and once the burst window has passed, a drain starts at once again
        deliver_many(deliver_payload, ["NoteCreate"])
        assert broker.drains == [DELAY, None]

    def test_an_event_after_the_drain_started_rings_again(self, deliver_payload, broker):
        deliver_many(deliver_payload, ["NoteCreate"] * 2)
        assert broker.run_all() == [S.IGNORED, S.IGNORED]  # the drain clears the flag before claiming

        deliver_many(deliver_payload, ["NoteCreate"])

        assert broker.drains == [DELAY]  # right after a drain started: part of a burst
        assert broker.run_all() == [S.IGNORED]

    def test_an_event_stored_between_flag_clear_and_claim_is_not_left_behind(self, deliver_payload, broker):
        deliver_many(deliver_payload, ["NoteCreate"])
        real_started = doorbell.webhook_inbox_drain_started

        def started_then_an_event_arrives():
            real_started()
            deliver_many(deliver_payload, ["NoteCreate"])  # lands after the clear, before the first claim

        with mock.patch(
            "ghl_integration.webhooks.processing.webhook_inbox_drain_started", started_then_an_event_arrives
        ):
            statuses = broker.drain()

        assert statuses == [S.IGNORED, S.IGNORED]  # the drain saw it …
        assert broker.drains == [DELAY]  # … and it rang anyway, so nothing depends on timing
        assert not WebhookEvent.objects.filter(status=S.RECEIVED).exists()

    def test_a_drain_ends_on_a_short_batch_and_what_came_after_has_rung_for_the_next(self, deliver_payload, broker):
        # given: a drain whose claim comes back short, and an event stored right after that claim
        deliver_many(deliver_payload, ["NoteCreate"] * 2)
        broker.drains.clear()
        real_claim = webhook_events_claim_received
        claims = []

        def claim_then_an_event_arrives(*, limit):
            events = real_claim(limit=limit)
            claims.append(len(events))
            if len(claims) == 1:
                deliver_many(deliver_payload, ["NoteCreate"])
            return events

        # when
        with mock.patch("ghl_integration.webhooks.processing.webhook_events_claim_received",
                        claim_then_an_event_arrives):
            statuses = broker.drain()

        # then: the drain did not claim again, the late event rang for a drain of its own, and that drain runs it
        assert claims == [2] and statuses == [S.IGNORED, S.IGNORED]
        assert WebhookEvent.objects.filter(status=S.RECEIVED).count() == 1
        assert broker.drains == [DELAY]
        assert broker.run_all() == [S.IGNORED]
        assert not WebhookEvent.objects.filter(status=S.RECEIVED).exists()

    def test_a_failed_publish_clears_the_flag_so_the_next_event_tries_again(self, deliver_payload, broker):
        from ghl_integration.webhooks.tasks import drain_webhook_inbox_task

        with mock.patch.object(drain_webhook_inbox_task, "apply_async", side_effect=ConnectionError("down")):
            deliver_many(deliver_payload, ["NoteCreate"])
        deliver_many(deliver_payload, ["NoteCreate"])

        assert broker.drains == [None]
        assert broker.run_all() == [S.IGNORED, S.IGNORED]

    def test_an_unreachable_cache_means_publishing_every_time(self, deliver_payload, broker):
        unreachable = mock.Mock(**{f"{method}.side_effect": ConnectionError("down")
                                   for method in ("add", "delete", "exists", "started")})
        with mock.patch.object(doorbell, "_flag_store", return_value=unreachable):
            deliver_many(deliver_payload, ["NoteCreate"] * 3)
        assert broker.drains == [None, None, None]

    def test_the_requeue_sweep_rings_past_a_stale_flag(self, deliver_payload, broker, settings):
        from datetime import timedelta

        from django.utils import timezone

        deliver_many(deliver_payload, ["NoteCreate"])
        broker.drains.clear()  # the drain message was lost; the flag is still set
        WebhookEvent.objects.update(
            queued_at=timezone.now() - timedelta(seconds=tuning.INBOX.requeue_after_seconds + 1)
        )

        with broker.capture_on_commit(execute=True):
            assert maintenance.webhook_events_requeue_stuck() == 1

        assert broker.drains == [None]  # at once, past the flag
        assert broker.ids == []  # no per-event message for a waiting event
        assert broker.run_all() == [S.IGNORED]


def test_the_drain_claims_production_sized_batches(deliver_payload, broker):
    # given: production's inbox tuning and 250 waiting events
    assert tuning.INBOX == tuning.InboxTuning() and tuning.INBOX.drain_batch == 100
    deliver_many(deliver_payload, ["NoteCreate"] * 250)
    claims = []
    real_claim = webhook_events_claim_received

    def recording_claim(*, limit):
        events = real_claim(limit=limit)
        claims.append(len(events))
        return events

    # when: a drain at its defaults
    with mock.patch("ghl_integration.webhooks.processing.webhook_events_claim_received", recording_claim):
        result = webhook_inbox_drain()

    # then: batches of 100, then the rest, and that short batch ends it
    assert claims == [100, 100, 50]
    assert result.statuses == [S.IGNORED] * 250 and not result.handed_over
