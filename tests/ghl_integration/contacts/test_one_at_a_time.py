"""One contact sync job of each kind per location at a time: a second pull (reconciliation, sweep) is refused
while one runs elsewhere, the lock goes when the job ends however it ends, and a dead worker's lock goes with
its database connection. "Elsewhere" is another thread, which has its own database session as another worker
process would."""
import threading
from unittest import mock

import pytest
from django.contrib import messages
from django.contrib.admin.sites import site as admin_site
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db import connections
from django.urls import reverse

from crm.sync.locks import SyncBusy, sync_exclusive, sync_is_busy
from crm.sync.models import SyncRun
from ghl_integration.admin import GhlConnectionAdmin
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_deletion_sweep, contacts_reconcile
from ghl_integration.contacts.tasks import contacts_initial_pull_task, contacts_reconcile_task
from ghl_integration.models import GhlConnection
from ghl_integration.sync.exclusive import location_job_name

from .conftest import (
    STEP_BY_STEP,
    held_elsewhere,
    local_by_external_id,
    page_writes_disconnecting,
    page_writes_dying_on,
)

pytestmark = pytest.mark.django_db

PULL, RECONCILE, SWEEP = SyncRun.Kind.INITIAL_PULL, SyncRun.Kind.RECONCILE, SyncRun.Kind.DELETION_SWEEP


def _in_other_thread(fn):
    """``fn()`` in a thread of its own (its own database session, closed after), returning its result."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    if "error" in out:
        raise out["error"]
    return out["value"]


def busy_elsewhere(name: str) -> bool:
    # Asked from this thread's own session the answer would be "free" even while it still held the lock:
    # PostgreSQL advisory locks stack within a session.
    return _in_other_thread(lambda: sync_is_busy(name))


def test_a_pull_is_refused_while_another_pull_of_the_location_runs(ghl, connection):
    with held_elsewhere(location_job_name(connection, PULL)):
        with pytest.raises(SyncBusy, match=f"contact initial_pull of ghl account {connection.location_id} is"):
            contacts_initial_pull(connection=connection)
        assert not SyncRun.objects.exists()
        assert ghl.control.request_log(path="/contacts/search") == []

    result = contacts_initial_pull(connection=connection)  # once the other has finished

    assert result.run.status == "succeeded" and len(local_by_external_id(connection)) == 50


def test_reconcile_and_sweep_are_one_at_a_time_too_but_never_block_a_pull(ghl, connection):
    contacts_initial_pull(connection=connection)

    with held_elsewhere(location_job_name(connection, RECONCILE)):
        with pytest.raises(SyncBusy):
            contacts_reconcile(connection=connection)
        assert contacts_deletion_sweep(connection=connection).run.status == "succeeded"
        assert contacts_initial_pull(connection=connection).run.status == "succeeded"
    with held_elsewhere(location_job_name(connection, SWEEP)):
        with pytest.raises(SyncBusy):
            contacts_deletion_sweep(connection=connection)
        assert contacts_reconcile(connection=connection).run.status == "succeeded"


def test_other_locations_are_not_held_up(ghl, connection):
    with held_elsewhere(location_job_name(GhlConnection(location_id="SomeOtherLocation"), PULL)):
        assert contacts_initial_pull(connection=connection).run.status == "succeeded"


def test_the_lock_goes_when_a_pull_succeeds_fails_or_is_cancelled(ghl, connection):
    name = location_job_name(connection, PULL)

    contacts_initial_pull(connection=connection)
    assert not busy_elsewhere(name)

    with page_writes_dying_on(1), pytest.raises(RuntimeError):
        contacts_initial_pull(connection=connection)
    assert not busy_elsewhere(name)

    with page_writes_disconnecting(connection):
        assert contacts_initial_pull(connection=connection, tuning=STEP_BY_STEP).run.status == "cancelled"
    assert not busy_elsewhere(name)


@pytest.mark.skipif(db_connection.vendor != "postgresql",
                    reason="across processes the lock is PostgreSQL's; elsewhere it is per process")
def test_a_dead_workers_lock_goes_with_its_database_connection(ghl, connection):
    name = location_job_name(connection, PULL)

    def die_holding_the_lock():
        sync_exclusive(name).__enter__()  # and never leave: the worker is killed, its connection closes

    _in_other_thread(die_holding_the_lock)

    assert contacts_initial_pull(connection=connection).run.status == "succeeded"


def test_tasks_skip_quietly_while_their_job_runs_elsewhere(ghl, connection, caplog):
    with held_elsewhere(location_job_name(connection, PULL)), caplog.at_level("INFO", logger="ghl_integration"):
        assert contacts_initial_pull_task(connection.pk) == "already-running"
    assert "ghl.sync.pull.already-running" in [r.getMessage() for r in caplog.records]
    assert not SyncRun.objects.exists()

    contacts_initial_pull(connection=connection)
    with held_elsewhere(location_job_name(connection, RECONCILE)):
        assert contacts_reconcile_task(connection.pk) == 0
    assert not SyncRun.objects.filter(kind=RECONCILE).exists()


def test_resync_says_a_pull_is_running_instead_of_queueing_another(client, connection, org, rf, admin_user):
    client.force_login(org.memberships.first().user)
    with held_elsewhere(location_job_name(connection, PULL)), \
            mock.patch("ghl_integration.contacts.tasks.contacts_initial_pull_task.delay") as delay:
        response = client.post(reverse("ghl_contact_sync_resync", kwargs={"org_id": org.pk}), follow=True)

        model_admin = GhlConnectionAdmin(GhlConnection, admin_site)
        request = rf.post("/")
        request.user = admin_user
        with mock.patch.object(model_admin, "message_user") as message_user:
            model_admin.resync_contacts(request, GhlConnection.objects.filter(pk=connection.pk))

    delay.assert_not_called()
    assert "A contact pull is already running" in response.content.decode()
    [(_, text, level)] = [call.args for call in message_user.call_args_list]
    assert "not resynced" in text and "already running" in text and level == messages.ERROR


def test_the_command_says_a_pull_is_running(ghl, connection, org):
    with held_elsewhere(location_job_name(connection, PULL)), \
            pytest.raises(CommandError, match="already running; try again once it has finished"):
        call_command("ghl_sync", "contacts", "--org", org.slug)
