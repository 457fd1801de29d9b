"""Work is isolated by queue, each queue with its own worker in the Procfile (#19 finding 3)."""
import re
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app

PROCFILE = Path(settings.BASE_DIR) / "Procfile"


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize("task_name, queue", [
    ("ghl_integration.webhooks.drain_webhook_inbox", "webhooks"),
    ("ghl_integration.webhooks.process_webhook_event", "webhooks"),
    ("ghl_integration.sync.push_contacts", "pushes"),
    ("ghl_integration.sync.contacts_initial_pull", "pulls"),
    ("ghl_integration.sync.contacts_reconcile", "pulls"),
    ("ghl_integration.webhooks.requeue_stuck_webhook_events", "maintenance"),
    ("ghl_integration.webhooks.drain_webhook_spool", "maintenance"),
    ("ghl_integration.sync.sweep_contact_outbox", "maintenance"),
    ("ghl_integration.sync.resume_orphaned_pulls", "maintenance"),
    ("ghl_integration.refresh_expiring_connections", "maintenance"),
    ("agentlevel.ping", "default"),
])
def test_each_kind_of_work_has_its_own_queue(task_name, queue):
    assert _queue_of(task_name) == queue


def test_every_task_goes_to_a_queue_some_worker_consumes():
    app.loader.import_default_modules()
    consumed = {}
    for line in PROCFILE.read_text().splitlines():
        name, _, command = line.partition(":")
        if "celery" in command and " worker" in command:
            match = re.search(r"-Q (\S+)", command)
            assert match, f"the Procfile's {name} consumes no named queue"
            for queue in match.group(1).split(","):
                consumed.setdefault(queue, []).append(name)
    assert set(consumed) == set(settings.WORKER_QUEUES)
    assert all(len(workers) == 1 for workers in consumed.values()), consumed  # each queue its own worker
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert {_queue_of(name) for name in ours} <= set(consumed)
    routed = set(settings.CELERY_TASK_ROUTES)
    assert routed <= set(app.tasks), routed - set(app.tasks)  # no route names a task that does not exist
