"""The pull task against the sandbox: a redelivery after its worker died resumes the run it started; a new
request starts a new run; the beat resumes a pull whose worker died, and only such a pull."""

import contextlib
import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from crm.models import Contact
from crm.sync.models import SyncRun
from ghl_integration.contacts.tasks import (
    contacts_initial_pull_task,
    contacts_reconcile_task,
    reconcile_all_connections_task,
    resume_orphaned_pulls_task,
)
from ghl_integration.sync.exclusive import location_job_name

from .conftest import ghl_contacts, grow_demo_to, held_elsewhere, local_by_external_id, page_writes_dying_on

pytestmark = pytest.mark.django_db


def test_a_redelivered_pull_continues_its_own_run_from_the_cursor(ghl, connection):
    grow_demo_to(ghl, 300)
    requested_at = timezone.now().isoformat()
    with page_writes_dying_on(2), pytest.raises(RuntimeError):
        contacts_initial_pull_task(connection.pk, False, requested_at)
    crashed = SyncRun.objects.get()
    assert crashed.progress_done == 100
    ghl.control.clear_request_log()

    status = contacts_initial_pull_task(connection.pk, False, requested_at)  # the same message again

    assert status == "succeeded"
    assert SyncRun.objects.get().pk == crashed.pk
    assert len(ghl.control.request_log(path="/contacts/search")) == 2  # pages 2 and 3, not all three
    assert set(local_by_external_id(connection)) == set(ghl_contacts(ghl)) and Contact.objects.count() == 300


def test_a_new_request_after_an_unfinished_pull_starts_over(ghl, connection):
    grow_demo_to(ghl, 300)
    with page_writes_dying_on(2), pytest.raises(RuntimeError):
        contacts_initial_pull_task(connection.pk, False, timezone.now().isoformat())
    crashed = SyncRun.objects.get()
    ghl.control.clear_request_log()

    status = contacts_initial_pull_task(connection.pk, False, timezone.now().isoformat())  # "Resync", later

    assert status == "succeeded"
    fresh = SyncRun.objects.exclude(pk=crashed.pk).get()
    assert fresh.progress_done == fresh.progress_total == 300
    assert len(ghl.control.request_log(path="/contacts/search")) == 3


def _orphan_a_pull(ghl, connection, *, silent_for: dt.timedelta) -> SyncRun:
    """A pull whose worker was killed mid-pull: it wrote a page, then nothing marked it failed or finished."""
    grow_demo_to(ghl, 300)
    with page_writes_dying_on(2), pytest.raises(RuntimeError):
        contacts_initial_pull_task(connection.pk, False, timezone.now().isoformat())
    SyncRun.objects.update(status=SyncRun.Status.RUNNING, heartbeat_at=timezone.now() - silent_for)
    return SyncRun.objects.get()


@pytest.mark.parametrize("beat", [resume_orphaned_pulls_task, reconcile_all_connections_task])
def test_the_beat_resumes_a_pull_whose_worker_died(ghl, connection, caplog, beat):
    orphan = _orphan_a_pull(ghl, connection, silent_for=dt.timedelta(seconds=25))

    with mock.patch.object(contacts_initial_pull_task, "delay") as pull_delay, \
            mock.patch.object(contacts_reconcile_task, "delay"), caplog.at_level("WARNING", logger="ghl_integration"):
        beat()

    pull_delay.assert_called_once()
    assert pull_delay.call_args.args[:2] == (connection.pk, True)
    assert "ghl.sync.pull.orphan-resumed" in [r.getMessage() for r in caplog.records]
    ghl.control.clear_request_log()
    assert contacts_initial_pull_task(*pull_delay.call_args.args) == "succeeded"  # what the worker then runs
    assert SyncRun.objects.get().pk == orphan.pk
    assert len(ghl.control.request_log(path="/contacts/search")) == 2
    assert Contact.objects.count() == 300
    # the same message delivered again later (the broker's visibility timeout) pulls nothing
    ghl.control.clear_request_log()
    assert contacts_initial_pull_task(*pull_delay.call_args.args) == "already-done"
    assert ghl.control.request_log(path="/contacts/search") == [] and SyncRun.objects.count() == 1


@pytest.mark.parametrize("case", ["recent heartbeat", "lock held: its worker lives", "failed, not orphaned"])
def test_the_beat_leaves_a_pull_alone_unless_its_worker_died(ghl, connection, case):
    _orphan_a_pull(ghl, connection, silent_for=dt.timedelta(seconds=5 if case == "recent heartbeat" else 300))
    if case == "failed, not orphaned":
        SyncRun.objects.update(status=SyncRun.Status.FAILED)
    holder = (held_elsewhere(location_job_name(connection, SyncRun.Kind.INITIAL_PULL))
              if case.startswith("lock held") else contextlib.nullcontext())

    with holder, mock.patch.object(contacts_initial_pull_task, "delay") as pull_delay, \
            mock.patch.object(contacts_reconcile_task, "delay") as reconcile_delay:
        reconcile_all_connections_task()

    pull_delay.assert_not_called()
    reconcile_delay.assert_called_once_with(connection.pk)
