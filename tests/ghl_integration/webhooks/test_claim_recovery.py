"""A batch claimed by a drain is never stranded: given back when the drain fails, its claim short and renewed
while the drain works, so after a database outage everything claimed runs within a minute (#19 finding 2)."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from ghl_integration.models import WebhookEvent
from ghl_integration.webhooks import processing, tuning
from ghl_integration.webhooks.processing import webhook_inbox_drain
from tests.database_outage import database_outage_possible

from .conftest import fresh, load_example

S = WebhookEvent.Status
pytestmark = pytest.mark.django_db


def _stored(deliver_payload, count: int) -> list[int]:
    return [deliver_payload(fresh(load_example("ContactUpdate.json"))).json()["id"] for _ in range(count)]


def test_a_drain_that_fails_mid_batch_gives_the_rest_back_at_once(deliver_payload, broker, active_connection,
                                                                   register_handler):
    # given: 10 events; a statement of the drain fails as it reaches the 4th (the database itself is fine)
    active_connection()
    ids = _stored(deliver_payload, 10)
    runs = []
    register_handler("ContactUpdate", lambda event, payload: runs.append(event.pk))
    real_run = processing._run_claimed

    def run_failing_at_the_fourth(event, batch):
        if event.pk == ids[3]:
            raise OperationalError("could not serialize access")
        return real_run(event, batch)

    # when
    with mock.patch.object(processing, "_run_claimed", run_failing_at_the_fourth), pytest.raises(OperationalError):
        webhook_inbox_drain()

    # then: the 3 finished stay finished, the other 7 are waiting again (attempt not counted), not leased away
    rows = {e.pk: e for e in WebhookEvent.objects.all()}
    assert [rows[pk].status for pk in ids] == [S.PROCESSED] * 3 + [S.RECEIVED] * 7
    assert {rows[pk].attempts for pk in ids[3:]} == {0}
    # and the retried drain runs them at once (each event's handler effects committed once)
    assert webhook_inbox_drain().statuses == [S.PROCESSED] * 7
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {S.PROCESSED}
    assert runs == ids  # each ran once


@pytest.mark.django_db(transaction=True)  # an outage inside the test's own transaction would poison it
def test_after_an_outage_the_stranded_batch_runs_within_a_minute(deliver_payload, broker, active_connection,
                                                                  register_handler):
    # given: 10 events; the database goes away for good after 3 of them (the release cannot reach it either)
    active_connection()
    ids = _stored(deliver_payload, 10)
    register_handler("ContactUpdate", lambda event, payload: None)
    claimed_at = timezone.now()
    with database_outage_possible() as outage:
        real_run = processing._run_claimed

        def run_then_lose_the_database(event, batch):
            if event.pk == ids[3]:
                outage.__enter__()
            return real_run(event, batch)

        with mock.patch.object(processing, "_run_claimed", run_then_lose_the_database), \
                pytest.raises(OperationalError):
            webhook_inbox_drain()
        outage.__exit__()
    stranded = WebhookEvent.objects.filter(status=S.PROCESSING)
    assert sorted(stranded.values_list("pk", flat=True)) == ids[3:]

    # then: their claim is short: well within a minute of the claim, a drain takes them (no sweep needed)
    lease_ends = max(stranded.values_list("lease_expires_at", flat=True))
    assert lease_ends - claimed_at < timedelta(seconds=31)
    assert webhook_inbox_drain().statuses == []  # a live claim is respected
    with mock.patch.object(processing.timezone, "now", return_value=lease_ends + timedelta(seconds=1)):
        assert webhook_inbox_drain().statuses == [S.PROCESSED] * 7
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {S.PROCESSED}


def test_a_drain_renews_its_claim_while_it_works(deliver_payload, broker, active_connection, register_handler,
                                                monkeypatch):
    # given: a lease of 0.3 s and events that take 0.1 s each: the batch outlives its first claim
    monkeypatch.setattr(tuning, "INBOX", tuning.InboxTuning(lease_seconds=0.3))
    active_connection()
    ids = _stored(deliver_payload, 6)
    expired_while_waiting = []

    def slow(event, payload):
        time.sleep(0.1)
        unfinished = WebhookEvent.objects.filter(pk__in=ids, status=S.PROCESSING).exclude(pk=event.pk)
        expired_while_waiting.extend(unfinished.filter(lease_expires_at__lt=timezone.now())
                                     .values_list("pk", flat=True))

    register_handler("ContactUpdate", slow)

    # when
    assert webhook_inbox_drain().statuses == [S.PROCESSED] * 6

    # then: no event of the batch was ever claimable by another drain while this one held it
    assert expired_while_waiting == []


def test_the_minute_sweep_requeues_an_expired_claim_without_waiting_five_minutes(broker):
    from ghl_integration.webhooks.maintenance import webhook_events_requeue_stuck

    now = timezone.now()
    event = WebhookEvent.objects.create(status=S.PROCESSING, attempts=1, event_type="NoteCreate", body="{}",
                                        received_at=now, queued_at=now - timedelta(seconds=40),
                                        lease_expires_at=now - timedelta(seconds=1))
    with broker.capture_on_commit(execute=True):
        assert webhook_events_requeue_stuck() == 1
    assert broker.ids == [event.pk]
