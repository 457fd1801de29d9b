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
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu lists these folders and fails on a fresh clone that `make run` has not prepared (a worker, a test).
    for _folder in ("broker", "processed", "control"):
        (_FS_BROKER_DIR.parent / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_FS_BROKER_DIR),
        "data_folder_out": str(_FS_BROKER_DIR),
        "processed_folder": str(_FS_BROKER_DIR.parent / "processed"),
        "control_folder": str(_FS_BROKER_DIR.parent / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else {
        # An unacked message of a worker that died comes back after this long. Nothing waits for it: the sweeps
        # recover dead work within a minute (pulls by heartbeat, the inbox and outbox by short leases), and a
        # late copy is harmless (claims; a pull request already served returns "already-done"). A task with a
        # countdown is held unacked until due, so Redis would hand it to another worker once per timeout
        # passed: no task is published due later than half of it (config.celery.eta_within_visibility_timeout).
        "visibility_timeout": 3600,
        # A broker that is down or half-open must not hold a web request: connecting gives up after 0.5 s,
        # a command after 2 s (kombu's default waits forever), and the worker's BRPOP connection is checked.
        "socket_connect_timeout": 0.5,
        "socket_timeout": 2,
        "health_check_interval": 10,
    }
)
# Publishing (the after-commit notifies inside users' requests) retries once, at once: enough to replace a
# pooled connection that went stale when Redis restarted, short enough that an outage costs the caller
# milliseconds (Celery's default, 3 retries 0.2 s apart, cost every write 0.6 s). What is not published is
# picked up by the sweeps: every notify has a periodic task behind it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
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

# Work is isolated by queue, each with its own workers (Procfile; README "Production"), so a slow GHL or one
# busy tenant cannot delay another's webhooks: the webhook inbox, pushes to GHL, pulls and reconciliations (long,
# paced by GHL's rate limit), the beat's maintenance (sweeps, requeues, token refresh: short, and what recovers
# everything else), and the rest (agents, channels) on the default queue.
CELERY_TASK_DEFAULT_QUEUE = "default"
WORKER_QUEUES = ("webhooks", "pushes", "pulls", "maintenance", "default")
CELERY_TASK_ROUTES = {
    "ghl_integration.webhooks.drain_webhook_inbox": {"queue": "webhooks"},
    "ghl_integration.webhooks.process_webhook_event": {"queue": "webhooks"},
    "ghl_integration.opportunities.confirm": {"queue": "webhooks"},
    "ghl_integration.sync.push_contacts": {"queue": "pushes"},
    "ghl_integration.sync.contacts_initial_pull": {"queue": "pulls"},
    "ghl_integration.sync.contacts_reconcile": {"queue": "pulls"},
    "ghl_integration.sync.contacts_deletion_sweep": {"queue": "pulls"},
    "ghl_integration.opportunities.pull": {"queue": "pulls"},
    "ghl_integration.opportunities.reconcile": {"queue": "pulls"},
    "ghl_integration.opportunities.deletion_sweep": {"queue": "pulls"},
    "ghl_integration.calendars.reconcile_appointments": {"queue": "pulls"},
    "ghl_integration.calendars.refresh_calendars": {"queue": "pulls"},
    "ghl_integration.messages.reconcile": {"queue": "pulls"},
    # The beat's tasks: each is short (a query, then it queues work on the queues above).
    "ghl_integration.webhooks.requeue_stuck_webhook_events": {"queue": "maintenance"},
    "ghl_integration.webhooks.drain_webhook_spool": {"queue": "maintenance"},
    "ghl_integration.webhooks.prune_webhook_events": {"queue": "maintenance"},
    "crm.sync.prune_remote_changes": {"queue": "maintenance"},
    "ghl_integration.refresh_expiring_connections": {"queue": "maintenance"},
    "ghl_integration.sync.sweep_contact_outbox": {"queue": "maintenance"},
    "ghl_integration.sync.resume_orphaned_pulls": {"queue": "maintenance"},
    "ghl_integration.sync.reconcile_all_connections": {"queue": "maintenance"},
    "ghl_integration.sync.deletion_sweep_all_connections": {"queue": "maintenance"},
    "ghl_integration.opportunities.reconcile_all": {"queue": "maintenance"},
    "ghl_integration.opportunities.deletion_sweep_all": {"queue": "maintenance"},
    "ghl_integration.calendars.reconcile_all_appointments": {"queue": "maintenance"},
    "ghl_integration.calendars.refresh_all_calendars": {"queue": "maintenance"},
    "ghl_integration.messages.reconcile_all": {"queue": "maintenance"},
    "channels_app.sweep_messages": {"queue": "maintenance"},
    "agents.runs_requeue_stale": {"queue": "maintenance"},
    "agents.trigger_deliveries_sweep": {"queue": "maintenance"},
}

