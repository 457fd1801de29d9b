"""Database unavailable at receipt (spool / 429), the spool drain, requeue of stuck events, pruning."""

import json
import os
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from ghl_integration.models import WebhookEvent, WebhookRejection
from ghl_integration.webhooks import maintenance, spool, tuning
from ghl_integration.webhooks.tasks import (
    drain_webhook_spool_task,
    prune_webhook_events_task,
    requeue_stuck_webhook_events_task,
)

from .conftest import fresh, load_example

pytestmark = pytest.mark.django_db
S = WebhookEvent.Status


@contextmanager
def inbox_inserts_fail():
    """The database refuses INSERTs into the inbox table (as when it is down or read-only)."""

    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and "webhookevent" in sql.lower():
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


def test_database_down_spools_the_event_and_acknowledges(deliver_payload, broker, spool_dir):
    # given
    payload = fresh(load_example("ContactCreate.json"))

    # when
    with inbox_inserts_fail():
        response = deliver_payload(payload)

    # then: acknowledged from the spool, nothing in the inbox yet, nothing queued
    assert response.status_code == 200
    assert response.json() == {"status": "spooled"}
    assert not WebhookEvent.objects.exists()
    assert broker.drains == []
    (path,) = spool.spool_pending()
    assert path.parent == spool_dir
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    # when the database is back, the drain stores and queues it; the file goes
    with broker.capture_on_commit(execute=True):
        assert drain_webhook_spool_task.run() == 1
    event = WebhookEvent.objects.get()
    assert event.webhook_id == payload["webhookId"]
    assert json.loads(event.body) == payload
    assert event.signature_algorithm == "ed25519"
    assert "x-ghl-signature" in event.headers
    assert broker.drains == [None]
    assert spool.spool_pending() == []
    assert broker.run_all() == ["skipped"]  # handled family, but no active connection for the location


def test_spooled_event_delivered_again_by_ghl_is_stored_once(deliver_payload, broker):
    payload = fresh(load_example("ContactCreate.json"))
    with inbox_inserts_fail():
        deliver_payload(payload)
    assert deliver_payload(payload).json()["status"] == "accepted"  # GHL's own retry, after recovery
    with broker.capture_on_commit(execute=True):
        assert maintenance.webhook_spool_drain() == 1  # the spooled copy is a duplicate: consumed, not stored
    assert WebhookEvent.objects.count() == 1
    assert spool.spool_pending() == []


def test_drain_keeps_the_file_while_the_database_is_still_down(deliver_payload):
    with inbox_inserts_fail():
        deliver_payload(fresh(load_example("ContactCreate.json")))
        deliver_payload(fresh(load_example("ContactUpdate.json")))
        assert maintenance.webhook_spool_drain() == 0
    assert len(spool.spool_pending()) == 2
    assert maintenance.webhook_spool_drain() == 2
    assert WebhookEvent.objects.count() == 2


def test_database_and_spool_both_down_is_429_so_ghl_retries(deliver_payload, settings, spool_dir):
    settings.GHL_WEBHOOK_SPOOL_DIR = ""  # spool disabled
    with inbox_inserts_fail():
        response = deliver_payload(fresh(load_example("ContactCreate.json")))
    assert response.status_code == 429
    assert response.json() == {"error": "temporarily-unavailable"}


def test_unwritable_spool_is_429(deliver_payload, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.GHL_WEBHOOK_SPOOL_DIR = str(blocker / "spool")
    with inbox_inserts_fail():
        response = deliver_payload(fresh(load_example("ContactCreate.json")))
    assert response.status_code == 429


def test_service_level_failure_is_never_a_5xx(deliver_payload):
    # Any unexpected error inside the receive service: answer 429 (GHL retries), never 500.
    with mock.patch("ghl_integration.webhooks.views.webhook_receive", side_effect=RuntimeError("boom")):
        response = deliver_payload(fresh(load_example("ContactCreate.json")))
    assert response.status_code == 429
    assert response.json() == {"error": "temporarily-unavailable"}


def test_rejection_counter_failure_does_not_break_the_401(client):
    with mock.patch.object(WebhookRejection.objects, "filter", side_effect=OperationalError("down")):
        response = client.post("/webhooks/ghl/", data=b"{}", content_type="application/json")
    assert response.status_code == 401


def test_corrupt_spool_file_is_set_aside_not_lost(spool_dir):
    spool_dir.mkdir()
    (spool_dir / "20260101T000000000000-bad.json").write_text("{not json")
    assert maintenance.webhook_spool_drain() == 0
    assert spool.spool_pending() == []
    assert (spool_dir / "rejected" / "20260101T000000000000-bad.json").exists()


def test_half_written_spool_files_are_not_read(spool_dir):
    spool_dir.mkdir()
    (spool_dir / ".20260101T000000000000-x.tmp").write_text("{")
    assert spool.spool_pending() == []


def test_broker_down_at_receipt_still_acknowledges_and_requeue_recovers(deliver_payload, broker, settings):
    # given: the broker refuses the message, the row is committed anyway
    from ghl_integration.webhooks.tasks import drain_webhook_inbox_task

    with mock.patch.object(drain_webhook_inbox_task, "apply_async", side_effect=ConnectionError("redis down")):
        response = deliver_payload(fresh(load_example("ContactCreate.json")))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()

    # when: the periodic requeue runs before and after the threshold
    assert requeue_stuck_webhook_events_task.run() == 0
    WebhookEvent.objects.update(
        queued_at=timezone.now() - timedelta(seconds=tuning.INBOX.requeue_after_seconds + 1)
    )
    with broker.capture_on_commit(execute=True):
        assert requeue_stuck_webhook_events_task.run() == 1

    # then: the event still waiting rings the drain, which processes it
    assert broker.drains == [None]
    assert broker.run_all() == ["skipped"]  # handled family, but no active connection for the location
    assert WebhookEvent.objects.get(pk=event.pk).status == S.SKIPPED
    assert requeue_stuck_webhook_events_task.run() == 0


def test_requeue_finds_expired_claims_and_overdue_retries(broker):
    now = timezone.now()
    old = now - timedelta(hours=1)
    common = {"event_type": "ContactCreate", "received_at": old, "queued_at": old, "body": "{}"}
    dead_worker = WebhookEvent.objects.create(
        status=S.PROCESSING, lease_expires_at=now - timedelta(minutes=1), **common
    )
    busy = WebhookEvent.objects.create(status=S.PROCESSING, lease_expires_at=now + timedelta(minutes=5), **common)
    overdue = WebhookEvent.objects.create(status=S.FAILED, next_attempt_at=old, **common)
    later = WebhookEvent.objects.create(status=S.FAILED, next_attempt_at=now + timedelta(hours=1), **common)
    done = WebhookEvent.objects.create(status=S.PROCESSED, **common)
    with broker.capture_on_commit(execute=True):
        assert maintenance.webhook_events_requeue_stuck() == 2
    assert sorted(broker.ids) == sorted([dead_worker.pk, overdue.pk])
    assert {busy.pk, later.pk, done.pk}.isdisjoint(broker.ids)


def test_prune_forgets_old_dedup_keys_and_old_finished_events(settings):
    now = timezone.now()

    def make(age, status, key):
        return WebhookEvent.objects.create(
            event_type="ContactCreate", received_at=now - age, body="{}", status=status, dedup_key=key
        )

    recent = make(timedelta(hours=1), S.PROCESSED, "id:recent")
    two_days = make(timedelta(days=3), S.PROCESSED, "id:three-days")
    ancient_done = make(timedelta(days=40), S.PROCESSED, "id:ancient")
    ancient_dead = make(timedelta(days=40), S.FAILED, "id:ancient-failed")
    WebhookRejection.objects.create(day=(now - timedelta(days=40)).date(), reason="bad-signature", last_seen_at=now)

    result = prune_webhook_events_task.run()

    assert result == {"dedup_keys_cleared": 3, "events_deleted": 1, "counters_deleted": 1}
    recent.refresh_from_db()
    two_days.refresh_from_db()
    assert recent.dedup_key == "id:recent"
    assert two_days.dedup_key is None
    assert not WebhookEvent.objects.filter(pk=ancient_done.pk).exists()
    assert WebhookEvent.objects.filter(pk=ancient_dead.pk).exists()  # unfinished events are kept


def test_drain_command(deliver_payload, capsys):
    from django.core.management import call_command

    with inbox_inserts_fail():
        deliver_payload(fresh(load_example("ContactCreate.json")))
    call_command("drain_webhook_spool")
    assert "drained 1" in capsys.readouterr().out
    assert WebhookEvent.objects.count() == 1


def test_setup_periodic_tasks_is_idempotent():
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_periodic_tasks")
    call_command("setup_periodic_tasks")
    tasks = dict(PeriodicTask.objects.values_list("task", "crontab__minute"))
    assert {  # the inbox's schedules (other features add theirs)
        "ghl_integration.webhooks.prune_webhook_events": "17",
    }.items() <= tasks.items()
    # every 15 s: what the spool held during a database outage is stored, and a batch whose claimer went away is
    # queued again, within seconds of the database's return (or of the claim's 30-second lease expiring)
    for name in ("ghl_integration.webhooks.drain_webhook_spool",
                 "ghl_integration.webhooks.requeue_stuck_webhook_events"):
        task = PeriodicTask.objects.get(task=name)
        assert (task.crontab, task.interval.every, task.interval.period) == (None, 15, "seconds")
    from config.celery import app

    for name in tasks:
        assert name in app.tasks


def test_spool_write_is_atomic_rename(spool_dir):
    path = spool.spool_write(body=b"{}", headers={}, signature_algorithm="rsa", received_at=timezone.now())
    assert path.exists() and not [p for p in os.listdir(spool_dir) if p.endswith(".tmp")]
    assert spool.spool_read(path).body == b"{}"
