"""Celery tasks of GHL contact sync: thin, take ids, call one service (STYLE §2)."""
import datetime as dt
import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from crm.sync.locks import SyncBusy

from ..models import GhlConnection
from . import pull
from . import reconcile as reconcile_module
from .reconcile import Handover, connections_for_sync, contacts_deletion_sweep, contacts_reconcile
from .runs import pull_orphaned, pull_served_since, pull_unfinished_since

logger = logging.getLogger(__name__)


def _active_connection(connection_id: int) -> GhlConnection | None:
    connection = GhlConnection.objects.select_related("organization").filter(pk=connection_id).first()
    if connection is None or not connection.is_active:
        logger.info("ghl.sync.connection-inactive", extra={"connection_id": connection_id})
        return None
    return connection


@shared_task(name="ghl_integration.sync.contacts_initial_pull", acks_late=True)
def contacts_initial_pull_task(connection_id: int, resume: bool = True, requested_at: str | None = None) -> str:
    """Pull every contact of the location; ``resume`` continues the last unfinished pull from its cursor.

    A fresh pull (connect, "Resync": ``resume=False``) carries the time it was queued. A worker that dies
    mid-pull leaves the message to be delivered again (acks late, rejected on worker loss); that delivery finds
    the unfinished run its first one started after ``requested_at`` and continues it from the cursor, rather
    than starting over. (A worker clock far behind the web server's only makes it start over.)"""
    connection = _active_connection(connection_id)
    if connection is None:
        return "inactive"
    if requested_at:
        since = dt.datetime.fromisoformat(requested_at)
        if pull_served_since(connection=connection, since=since):
            # A redelivery (its worker died; another resumed the pull and finished it): pull once, not twice.
            logger.info("ghl.sync.pull.already-done", extra={"connection_id": connection_id})
            return "already-done"
        if not resume:
            resume = pull_unfinished_since(connection=connection, since=since)
    try:
        result = pull.contacts_initial_pull(connection=connection, resume=resume,
                                            time_budget_s=pull.PULL_TASK_BUDGET_SECONDS)
    except SyncBusy:
        # That pull covers what this one would (a double click, or a redelivery while the first still runs).
        logger.info("ghl.sync.pull.already-running", extra={"connection_id": connection_id})
        return "already-running"
    if result.handed_over:
        _pull_follow_up(connection_id=connection_id, run_id=result.run.pk)
        return "handed-over"
    return result.run.status


def _pull_follow_up(*, connection_id: int, run_id: int) -> None:
    """Queue the resumption of a pull that ran out of its time budget, now that its lock is free. Its message
    carries the time, like any pull request: once the run has succeeded, a second copy does nothing. If the
    broker is down, the run (still running, its heartbeat stopped) is the orphan sweep's within ~35 s."""
    try:
        contacts_initial_pull_task.delay(connection_id, True, timezone.now().isoformat())
    except Exception as exc:  # noqa: BLE001 - the orphan sweep resumes it
        logger.warning("ghl.sync.pull.follow-up-failed", extra={"connection_id": connection_id, "run_id": run_id,
                                                                "error": f"{type(exc).__name__}: {exc}"})


@shared_task(name="ghl_integration.sync.contacts_reconcile")
def contacts_reconcile_task(connection_id: int, run_id: int | None = None, handover: int | None = None) -> int:
    """One bounded reconciliation; ``run_id``/``handover``: continue that run (queued by the run that ran out
    of time); what is still left is handed to one more task."""
    connection = _active_connection(connection_id)
    if connection is None:
        return 0
    try:
        result = contacts_reconcile(connection=connection, budget_seconds=reconcile_module.RECONCILE_BUDGET_SECONDS,
                                    page_size=reconcile_module.RECONCILE_PAGE_SIZE,
                                    handover=Handover(run_id, handover) if run_id is not None else None)
    except SyncBusy:
        # The one running continues any handed-over run itself; the next one starts where the last succeeded.
        logger.info("ghl.sync.reconcile.already-running", extra={"connection_id": connection_id})
        return 0
    if result.handover is not None:  # queued once the location's lock is free again (the service returned)
        contacts_reconcile_task.apply_async((connection_id, result.handover.run_id, result.handover.number))
    return result.repaired


@shared_task(name="ghl_integration.sync.contacts_deletion_sweep")
def contacts_deletion_sweep_task(connection_id: int, run_id: int | None = None, handover: int | None = None) -> int:
    """One bounded deletion sweep, continued as `contacts_reconcile_task` is."""
    connection = _active_connection(connection_id)
    if connection is None:
        return 0
    try:
        result = contacts_deletion_sweep(
            connection=connection, budget_seconds=reconcile_module.RECONCILE_BUDGET_SECONDS,
            handover=Handover(run_id, handover) if run_id is not None else None)
    except SyncBusy:
        logger.info("ghl.sync.deletion-sweep.already-running", extra={"connection_id": connection_id})
        return 0
    if result.handover is not None:
        contacts_deletion_sweep_task.apply_async((connection_id, result.handover.run_id, result.handover.number))
    return result.repaired_remote


@shared_task(name="ghl_integration.sync.reconcile_all_connections")
def reconcile_all_connections_task() -> int:
    """Beat (every 15 min): one reconciliation task per active location connection (and, as a backstop, the
    resumption of pulls whose worker died)."""
    connections = connections_for_sync()
    pulls_resume_orphaned(connections=connections)
    for connection in connections:
        contacts_reconcile_task.delay(connection.pk)
    return len(connections)


@shared_task(name="ghl_integration.sync.resume_orphaned_pulls", ignore_result=True)
def resume_orphaned_pulls_task() -> int:
    """Beat (every 15 s): resume, from its cursor, any pull whose worker died."""
    return pulls_resume_orphaned()


def pulls_resume_orphaned(*, connections=None) -> int:
    """Queue the resumption of every pull whose worker died (`pull_orphaned`: silent heartbeat, lock free); the
    message carries the time, so once one worker has finished the pull any later copy does nothing. Returns
    how many were queued."""
    queued = 0
    for connection in connections if connections is not None else connections_for_sync():
        orphan = pull_orphaned(connection=connection)
        if orphan is None:
            continue
        logger.warning("ghl.sync.pull.orphan-resumed", extra={"connection_id": connection.pk, "run_id": orphan.pk})
        contacts_initial_pull_task.delay(connection.pk, True, timezone.now().isoformat())
        queued += 1
    return queued


@shared_task(name="ghl_integration.sync.deletion_sweep_all_connections")
def deletion_sweep_all_connections_task() -> int:
    """Beat (nightly): one deletion sweep per active location connection."""
    connections = connections_for_sync()
    for connection in connections:
        contacts_deletion_sweep_task.delay(connection.pk)
    return len(connections)


def contacts_initial_pull_queue(*, connection_id: int, resume: bool = False) -> None:
    """Queue a pull after the current transaction commits (the connect flow, the resync buttons)."""

    def send() -> None:
        try:
            contacts_initial_pull_task.delay(connection_id, resume, timezone.now().isoformat())
        except Exception as exc:  # a broker outage must not undo the connection; "Resync" queues it again
            logger.warning("ghl.sync.pull.enqueue-failed",
                           extra={"connection_id": connection_id, "error": f"{type(exc).__name__}: {exc}"})

    transaction.on_commit(send)
