"""Write every django-celery-beat schedule of the product (idempotent: safe to run on each start)."""

import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def _cron(minute: str, hour: str = "*") -> dict:
    """Crontab fields of a schedule that runs every day of every month."""
    return {"minute": minute, "hour": hour, "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}


# (name, task, crontab fields[, task keyword arguments]); a comment above each crontab says why
SCHEDULES = (
    (
        "channels: sweep messages",
        "channels_app.sweep_messages",
        # "* * * * *": every minute: sends whose retry message was lost or whose worker died, and the delivery
        # status of messages still open 30 s after sending (the fallback when no status webhook comes).
        _cron("*"),
    ),
    (
        "agents: requeue lost runs",
        "agents.runs_requeue_stale",
        # "* * * * *": every minute, so a run whose message was lost with the broker starts within ~3 minutes.
        _cron("*"),
    ),
    (
        "agents: sweep trigger deliveries",
        "agents.trigger_deliveries_sweep",
        # "* * * * *": every minute; deliveries are queued at once (or with their countdown), the sweep only
        # catches lost messages, and callback retries wait 30 s and more, so a minute is the worst extra wait.
        _cron("*"),
    ),
    (
        "ghl: reconcile conversations",
        "ghl_integration.messages.reconcile_all",
        # "3,18,33,48 * * * *": every 15 minutes, clear of the contact reconcile (:07...) and the token sweep
        # (:00...); each run reads only the conversations with messages since the last run (2-minute overlap).
        _cron("3,18,33,48"),
    ),
    (
        "ghl: prune webhook inbox",
        "ghl_integration.webhooks.prune_webhook_events",
        # "17 3 * * *": daily at 03:17 UTC, a quiet hour, off the top of the hour when other jobs pile up.
        _cron("17", hour="3"),
    ),
    (
        "crm: prune sync history",
        "crm.sync.prune_remote_changes",
        # "27 3 * * *": daily at 03:27 UTC, a quiet hour, ten minutes after the webhook inbox's prune.
        _cron("27", hour="3"),
    ),
    (
        "ghl: refresh expiring tokens",
        "ghl_integration.refresh_expiring_connections",
        # "*/15 * * * *": every 15 minutes, well inside the refresh margin, so a token never lapses between sweeps.
        _cron("*/15"),
    ),
    (
        "ghl: reconcile contacts",
        "ghl_integration.sync.reconcile_all_connections",
        # "7,22,37,52 * * * *": every 15 minutes, offset from the token sweep at :00/:15/:30/:45 so the two
        # do not start together; each run reads GHL's changes since the last one (2-minute overlap).
        _cron("7,22,37,52"),
    ),
    (
        "ghl: refresh calendars",
        "ghl_integration.calendars.refresh_all_calendars",
        # "29 * * * *": hourly at :29, clear of the quarter-hour jobs; calendar settings change rarely (two
        # requests per location), and bookings never read them: free slots always come from GHL itself.
        _cron("29"),
    ),
    (
        "ghl: reconcile appointments",
        "ghl_integration.calendars.reconcile_all_appointments",
        # "3,18,33,48 * * * *": every 15 minutes, between the token sweep and the contact reconciliation; GHL
        # lists events by start time only, so each run re-reads the near past and the next 60 days.
        _cron("3,18,33,48"),
    ),
    (
        "ghl: appointments full pass",
        "ghl_integration.calendars.reconcile_all_appointments",
        # "53 3 * * *": nightly at 03:53 UTC, a quiet hour; a year back and a year ahead (24 event listings
        # per calendar), for changes outside the 15-minute runs' window.
        _cron("53", hour="3"),
        {"full": True},
    ),
    (
        "ghl: reconcile opportunities",
        "ghl_integration.opportunities.reconcile_all",
        # "11,26,41,56 * * * *": every 15 minutes, 4 minutes after the contact reconciliation so the two do not
        # share GHL's burst budget; it also refreshes pipelines, users and lost reasons (GHL has no events).
        _cron("11,26,41,56"),
    ),
    (
        "ghl: opportunity deletion sweep",
        "ghl_integration.opportunities.deletion_sweep_all",
        # "53 2 * * *": nightly at 02:53 UTC, after the contact sweep; it pages every opportunity id (one
        # request per 100), too costly for every 15 minutes, and deletions are rare and not urgent.
        _cron("53", hour="2"),
    ),
    (
        "ghl: contact deletion sweep",
        "ghl_integration.sync.deletion_sweep_all_connections",
        # "41 2 * * *": nightly at 02:41 UTC, a quiet hour; it pages every contact id (≈60 requests per
        # 30,000 contacts), too costly for every 15 minutes, and deletions are rare and not urgent.
        _cron("41", hour="2"),
    ),
)


# Faster than a crontab's minute: (name, task, every N seconds).
INTERVALS = (
    (
        "ghl: resume orphaned pulls",
        "ghl_integration.sync.resume_orphaned_pulls",
        # Every 15 s: a pull whose worker died (heartbeat silent 20 s, lock free) resumes from its cursor within
        # about 35 s; each run is one query per active location.
        15,
    ),
    (
        "ghl: requeue stuck webhook events",
        "ghl_integration.webhooks.requeue_stuck_webhook_events",
        # Every 15 s: a batch claimed by a drain whose worker or database went away is claimable again when its
        # 30-second lease expires, and this is what queues it then (bench/chaos.py scenario b: with a minute's
        # crontab the stranded claim waited up to 90 s, 50 s after the database came back); an event whose
        # message was lost waits the requeue delay (webhooks/tuning.py) plus 15 s. One indexed query.
        15,
    ),
    (
        "ghl: drain webhook spool",
        "ghl_integration.webhooks.drain_webhook_spool",
        # Every 15 s: the spool only fills while the database refuses inserts, and what it holds must be in the
        # inbox within a minute of the database coming back (a minute's crontab alone could take 60 s to start);
        # an empty spool costs one directory listing.
        15,
    ),
    (
        "ghl: sweep contact outbox",
        "ghl_integration.sync.sweep_contact_outbox",
        # Every 15 s: pushes are queued right after each commit; the sweep catches failed entries whose backoff
        # (30 s and up) has passed, expired leases of dead workers and notifications lost with a broker outage
        # (bench/chaos.py scenario d: a minute's crontab made the catch-up after Redis returned up to ~65 s).
        # Each run is one indexed query; a location whose drain runs gets a task that returns at once.
        15,
    ),
)


class Command(BaseCommand):
    help = "Create or update the periodic Celery tasks (django-celery-beat)."

    @transaction.atomic
    def handle(self, *args, **options):
        for name, task, cron, *kwargs in SCHEDULES:
            schedule, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **cron)
            PeriodicTask.objects.update_or_create(
                name=name, defaults={"task": task, "crontab": schedule, "interval": None, "enabled": True,
                                     "kwargs": json.dumps(kwargs[0] if kwargs else {})}
            )
            self.stdout.write(f"scheduled {name}: {task}")
        for name, task, seconds in INTERVALS:
            interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.update_or_create(
                name=name, defaults={"task": task, "interval": interval, "crontab": None, "enabled": True,
                                     "kwargs": "{}"}
            )
            self.stdout.write(f"scheduled {name}: {task}")
