"""Celery application: one app for the web process, the worker and beat."""
import os
from datetime import UTC, datetime, timedelta

from celery import Celery
from celery.signals import after_setup_logger, before_task_publish

from config.logging import celery_root_handlers_show_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("agentlevel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
after_setup_logger.connect(celery_root_handlers_show_context, weak=False)


def latest_eta_seconds() -> float | None:
    """How far ahead a published task may be due: half the broker's visibility timeout (None: no such timeout).

    Redis hands a message that a worker reserved but has not acknowledged to another worker once the visibility
    timeout has passed, and a worker holds a task with a countdown reserved until it is due: a longer countdown
    would be run once per timeout passed. Every task published with a countdown finds its work not due yet when
    it comes early and leaves it to the sweep behind its queue (outbox entries and trigger deliveries keep their
    due time, a webhook event its retry), so cutting the wait costs at most a no-op task."""
    from django.conf import settings

    timeout = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}).get("visibility_timeout")
    return None if timeout is None else timeout / 2


@before_task_publish.connect(weak=False)
def eta_within_visibility_timeout(headers=None, **kwargs) -> None:
    """Bring a task due later than `latest_eta_seconds` forward to that bound (the headers are what is sent)."""
    eta, bound = (headers or {}).get("eta"), latest_eta_seconds()
    if not eta or bound is None:
        return
    due = datetime.fromisoformat(eta)
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)  # Celery writes UTC
    latest = datetime.now(UTC) + timedelta(seconds=bound)
    if due > latest:
        headers["eta"] = latest.isoformat()


@app.task(name="agentlevel.ping")
def ping(value: str = "pong") -> str:
    """Echo a value: lets tests and health checks prove a worker consumes the broker."""
    return value
