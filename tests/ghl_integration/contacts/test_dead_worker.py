"""A pull whose worker is killed whole (SIGKILL of its process) is resumed within a minute by a live worker,
from its cursor, exactly once, also when the dead worker's message is delivered again later (#19 finding 1)."""
import os
import signal
import subprocess
import sys
import time
from unittest import mock

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.sync.models import SyncRun
from ghl_integration.contacts.tasks import contacts_initial_pull_task, resume_orphaned_pulls_task
from ghl_sandbox.constants import RATE_LIMIT_INTERVAL_MS, RATE_LIMIT_MAX

from .conftest import ghl_contacts, grow_demo_to

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(db_connection.vendor != "postgresql", reason="the worker process needs a shared database"),
]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _database_url() -> str:
    db = db_connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_killed_pull_is_resumed_within_a_minute_from_its_cursor_exactly_once(ghl, connection):
    # given: 2,000 contacts behind a GHL answering in ~60 ms and granting 5 requests a second (so the sliced
    # pull takes seconds, not a fraction of one), pulled by a worker in its own process
    grow_demo_to(ghl, 2000)
    ghl.control.faults(api={"latency_ms": 60})
    ghl.control.rate_limits(max=5, interval_ms=1000)
    requested_at = timezone.now().isoformat()
    script = ("import django; django.setup(); from ghl_integration.contacts.tasks import contacts_initial_pull_task; "
              f"contacts_initial_pull_task({connection.pk}, False, {requested_at!r})")
    # The worker counts GHL's budget under this test's limiter keys, as the in-process resume below does: one
    # account's budget, shared by its workers, and nothing of another run's on the same Redis.
    env = dict(os.environ, DATABASE_URL=_database_url(), DJANGO_SETTINGS_MODULE="config.settings.test",
               GHL_API_BASE_URL=ghl.base_url, GHL_RATE_LIMIT_KEY_PREFIX=settings.GHL_RATE_LIMIT_KEY_PREFIX)
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not SyncRun.objects.filter(progress_done__gte=300).exists():
            time.sleep(0.1)
    finally:
        # when: the worker dies whole, mid-pull (nothing marks its run failed)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    killed_at = time.monotonic()
    crashed = SyncRun.objects.get()
    assert crashed.status == "running" and 300 <= crashed.progress_done < 2000 and crashed.cursor

    # then: the sweep the beat runs every 15 s queues its resumption within a minute of the death
    with mock.patch.object(contacts_initial_pull_task, "delay") as pull_delay:
        while not pull_delay.called and time.monotonic() - killed_at < 60:
            resume_orphaned_pulls_task()
            if not pull_delay.called:
                time.sleep(15)
    assert pull_delay.called, "the dead pull was not resumed within a minute"
    ghl.control.clear_faults()
    ghl.control.rate_limits(max=RATE_LIMIT_MAX, interval_ms=RATE_LIMIT_INTERVAL_MS)
    ghl.control.clear_request_log()
    assert contacts_initial_pull_task(*pull_delay.call_args.args) == "succeeded"  # a live worker runs it
    resumed = SyncRun.objects.get()
    assert resumed.pk == crashed.pk and resumed.progress_done == resumed.progress_total == 2000
    assert len(ghl.control.request_log(path="/contacts/search")) < 20  # from the cursor, not from the start
    assert sorted(ExternalIdentity.objects.values_list("external_id", flat=True)) == sorted(ghl_contacts(ghl))
    assert Contact.objects.count() == 2000

    # and the dead worker's message, delivered again once the broker's visibility timeout passes, pulls nothing
    ghl.control.clear_request_log()
    assert contacts_initial_pull_task(connection.pk, False, requested_at) == "already-done"
    assert ghl.control.request_log(path="/contacts/search") == [] and SyncRun.objects.count() == 1
