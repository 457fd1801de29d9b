"""A real Celery worker process consumes the Redis broker and runs a task."""
import os
import subprocess
import time

import pytest
import redis
from celery import Celery

from tests.celery_worker import celery_worker_process


def _redis_broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis://") else "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_broker():
    url = _redis_broker_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return url


@pytest.mark.slow
def test_a_real_worker_runs_a_task_from_the_redis_broker(redis_broker):
    env = dict(os.environ, CELERY_BROKER_URL=redis_broker, CELERY_RESULT_BACKEND=redis_broker,
               DJANGO_SETTINGS_MODULE="config.settings.test")
    queue = f"ci-ping-{os.getpid()}-{time.monotonic_ns()}"
    with celery_worker_process(env=env, queue=queue, output=subprocess.PIPE):
        app = Celery(broker=redis_broker, backend=redis_broker, set_as_current=False)  # leave the suite's app current
        result = app.send_task("agentlevel.ping", args=["hello from the test"], queue=queue)
        assert result.get(timeout=60) == "hello from the test"
