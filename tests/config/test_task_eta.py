"""No task reaches the Redis broker due later than the visibility timeout allows: Redis would hand a message
held unacked until due to another worker once per timeout passed, running it again each time."""
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings

from config.celery import app, latest_eta_seconds


@pytest.fixture
def private_queue():
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        if os.environ.get("CI"):
            raise AssertionError("CI runs the suite on a Redis broker")
        pytest.skip("the visibility timeout is Redis's")
    queue = f"t-eta-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(url)
    yield queue, client
    client.delete(queue)


def _due_at(client, queue) -> datetime:
    (raw,) = client.lrange(queue, 0, -1)
    return datetime.fromisoformat(json.loads(raw)["headers"]["eta"])


def test_a_task_published_a_day_ahead_is_due_within_half_the_visibility_timeout(private_queue):
    queue, client = private_queue
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    sent_at = datetime.now(UTC)

    app.send_task("agentlevel.ping", queue=queue, countdown=86_400)  # a daily quota spent, a closed weekend

    due = _due_at(client, queue)
    assert latest_eta_seconds() == timeout / 2
    assert sent_at + timedelta(seconds=timeout / 2 - 5) <= due <= datetime.now(UTC) + timedelta(seconds=timeout / 2)


def test_a_countdown_within_the_bound_is_kept(private_queue):
    queue, client = private_queue
    sent_at = datetime.now(UTC)

    app.send_task("agentlevel.ping", queue=queue, countdown=120)

    due = _due_at(client, queue)
    assert sent_at + timedelta(seconds=119) <= due <= datetime.now(UTC) + timedelta(seconds=121)
