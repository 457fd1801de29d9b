"""Celery settings.

Without CELERY_BROKER_URL the broker is kombu's filesystem transport under var/celery/, which needs
no server, so `make run` starts a real worker and beat as separate processes on a fresh machine.
Production and CI point CELERY_BROKER_URL at Redis.
"""
from pathlib import Path

import environ

_env = environ.Env()
_BASE_DIR = Path(__file__).resolve().parent.parent.parent
_FS_BROKER_DIR = _BASE_DIR / "var" / "celery" / "broker"

CELERY_BROKER_URL = _env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_FS_BROKER_DIR),
        "data_folder_out": str(_FS_BROKER_DIR),
        "processed_folder": str(_FS_BROKER_DIR.parent / "processed"),
        "control_folder": str(_FS_BROKER_DIR.parent / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else {"visibility_timeout": 3600}
)
CELERY_RESULT_BACKEND = _env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = _env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
