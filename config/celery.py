"""Celery application: one app for the web process, the worker and beat."""
import os

from celery import Celery
from celery.signals import after_setup_logger

from config.logging import celery_root_handlers_show_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("agentlevel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
after_setup_logger.connect(celery_root_handlers_show_context, weak=False)


@app.task(name="agentlevel.ping")
def ping(value: str = "pong") -> str:
    """Echo a value: lets tests and health checks prove a worker consumes the broker."""
    return value
