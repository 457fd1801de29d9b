"""End to end: signed deliveries over HTTP to the live endpoint, processed by a real Celery worker process."""

import os
import time
from unittest import mock

import pytest
import redis
import requests
from django.db import connection

from ghl_integration.models import WebhookEvent
from ghl_integration.webhooks import doorbell, tuning
from ghl_integration.webhooks.tasks import drain_webhook_inbox_task
from tests.celery_worker import celery_worker_process

from .conftest import compact, fresh, load_example, sign_ed25519

EVENTS = 300

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs a shared database"),
]


def _redis_url(url: str) -> str:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except (redis.exceptions.ConnectionError, ValueError):
        return ""
    return url


@pytest.fixture
def worker(transactional_db, settings):
    """A Celery worker on its own queue, connected to this test's database."""
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    database_url = f"postgres://{db['USER'] or 'postgres'}@{host}/{db['NAME']}"
    queue = f"test-drain-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               REDIS_URL=settings.REDIS_URL)
    with celery_worker_process(env=env, queue=queue, app="tests.ghl_integration.webhooks.drain_worker_app"):
        yield queue


def test_a_burst_over_http_is_processed_by_a_real_worker_with_few_drain_messages(live_server, worker, settings,
                                                                                 monkeypatch):
    # given: the shared Redis flag when there is one (CI), every drain message routed to this test's worker
    settings.REDIS_URL = _redis_url(settings.REDIS_URL) if settings.REDIS_URL else ""
    bell = tuning.DoorbellTuning(debounce=bool(settings.REDIS_URL), burst_window_seconds=60)
    monkeypatch.setattr(tuning, "DOORBELL", bell)
    for key in (doorbell.DRAIN_QUEUED_FLAG, doorbell.DRAIN_STARTED_RECENTLY_FLAG):
        doorbell._flag_store().delete(key)
    published = []
    send = drain_webhook_inbox_task.apply_async

    def to_test_queue(*args, **kwargs):
        published.append(kwargs.get("countdown"))
        return send(*args, queue=worker, **kwargs)

    # when: a burst of signed deliveries, some of them repeated by "GHL"
    names = ["ContactCreate", "NoteCreate", "OpportunityUpdate"]
    bodies = [compact(fresh(load_example(f"{names[i % 3]}.json"))) for i in range(EVENTS)]
    answers = []
    started = time.monotonic()
    with mock.patch.object(drain_webhook_inbox_task, "apply_async", side_effect=to_test_queue), requests.Session() as s:
        for body in bodies + bodies[:20]:
            answers.append(s.post(f"{live_server.url}/webhooks/ghl/", data=body, timeout=10,
                                  headers={"Content-Type": "application/json", "x-ghl-signature": sign_ed25519(body)}))
        burst_seconds = time.monotonic() - started

        # then: every event is finished by the worker, once
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not WebhookEvent.objects.exclude(status__in=WebhookEvent.FINISHED).exists():
                break
            time.sleep(0.2)

    assert [a.status_code for a in answers] == [200] * (EVENTS + 20)
    assert [a.json()["status"] for a in answers[EVENTS:]] == ["duplicate"] * 20
    rows = list(WebhookEvent.objects.values_list("status", "attempts"))
    assert len(rows) == EVENTS
    assert {status for status, _ in rows} <= {"skipped", "ignored"}  # no connection for the examples' location
    assert {attempts for _, attempts in rows} == {1}
    if bell.debounced:
        # The first drain starts at once; during the burst a drain is published only once the previous one has
        # started, and starts its delay later: so at most one message per delay, however many events arrive.
        delay = bell.delay_seconds
        assert published[0] is None and set(published[1:]) <= {delay}
        assert 1 <= len(published) <= burst_seconds / delay + 2
        assert len(published) < EVENTS / 2
    else:
        assert len(published) == EVENTS
