"""Celery tasks of the opportunity sync (thin: load ids, call one service)."""
import logging

from celery import shared_task
from django.db import transaction

from crm.sync.inbound import CreatePushInFlight
from crm.sync.locks import SyncBusy

from ..client import GhlApiError
from ..contacts.reconcile import connections_for_sync
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.handover import Handover
from . import sync as sync_module
from .inbound import UnknownReference, opportunity_confirm
from .sync import opportunities_deletion_sweep, opportunities_pull

logger = logging.getLogger(__name__)


def _active(connection_id: int) -> GhlConnection | None:
    return (GhlConnection.objects.select_related("organization")
            .filter(pk=connection_id, status=GhlConnection.Status.ACTIVE).exclude(location_id="").first())


def _bounded(task, fn, connection_id: int, run_id: int | None, handover: int | None) -> str:
    """One run of ``fn`` bounded in time; ``run_id``/``handover``: continue that run (queued by the task that ran
    out of time; continued at most once per handover). What is still left goes to one more ``task``."""
    connection = _active(connection_id)
    if connection is None:
        return "inactive"
    try:
        result = fn(connection=connection, budget_seconds=sync_module.RECONCILE_BUDGET_SECONDS,
                    handover=Handover(run_id, handover) if run_id is not None else None)
    except SyncBusy:  # the one running continues any handed-over run itself
        logger.info("ghl.opportunities.already-running", extra={"connection_id": connection_id, "job": fn.__name__})
        return "already-running"
    if result is None:
        return "superseded"  # continued already, or a redelivery
    if result.handover is not None:  # queued once the location's lock is free again (the service returned)
        task.apply_async((connection_id, result.handover.run_id, result.handover.number))
    return result.run.status


@shared_task(name="ghl_integration.opportunities.pull", acks_late=True)
def opportunities_pull_task(connection_id: int, run_id: int | None = None, handover: int | None = None) -> str:
    return _bounded(opportunities_pull_task, opportunities_pull, connection_id, run_id, handover)


@shared_task(name="ghl_integration.opportunities.confirm", bind=True, acks_late=True, max_retries=3)
def opportunity_confirm_task(self, connection_id: int, external_id: str) -> str:
    """The read queued by an event that repeated the state we hold (`inbound.opportunity_confirm_schedule`)."""
    connection = _active(connection_id)
    if connection is None:
        return "inactive"
    log_extra = {"connection_id": connection_id, "external_id": external_id}
    try:
        with GhlInstallation(connection).get_client() as client:
            return opportunity_confirm(connection=connection, client=client, external_id=external_id).outcome
    except (CreatePushInFlight, GhlApiError) as exc:
        if isinstance(exc, GhlApiError) and not (exc.retryable or exc.status is None or exc.status >= 500
                                                 or exc.status in (401, 403)):
            logger.warning("ghl.opportunities.confirm-refused", extra={**log_extra, "error": str(exc)})
            return "refused"
        raise self.retry(exc=exc, countdown=5) from exc
    except UnknownReference as exc:  # the reconciliation reads it again with a fresh mirror
        logger.warning("ghl.opportunities.confirm-unknown-reference", extra={**log_extra, "error": str(exc)})
        return "unknown-reference"


@shared_task(name="ghl_integration.opportunities.reconcile")
def opportunities_reconcile_task(connection_id: int, run_id: int | None = None, handover: int | None = None) -> str:
    """One bounded reconciliation; ``run_id``/``handover``: continue that run (queued by the run that ran out of
    time, which is continued at most once per handover); what is still left goes to one more task."""
    connection = _active(connection_id)
    if connection is None:
        return "inactive"
    try:
        result = sync_module.opportunities_reconcile(
            connection=connection, budget_seconds=sync_module.RECONCILE_BUDGET_SECONDS,
            page_size=sync_module.PAGE_SIZE, handover=Handover(run_id, handover) if run_id is not None else None)
    except SyncBusy:  # the one running continues any handed-over run itself
        logger.info("ghl.opportunities.already-running", extra={"connection_id": connection_id,
                                                                "job": "opportunities_reconcile"})
        return "already-running"
    if result is None:
        if run_id is not None:
            return "superseded"  # continued already, or a redelivery
        # no successful pull yet (its message was lost, or it failed): pull instead
        return _bounded(opportunities_pull_task, opportunities_pull, connection_id, None, None)
    if result.handover is not None:  # queued once the location's lock is free again (the service returned)
        opportunities_reconcile_task.apply_async((connection_id, result.handover.run_id, result.handover.number))
    return result.run.status


@shared_task(name="ghl_integration.opportunities.deletion_sweep")
def opportunities_deletion_sweep_task(connection_id: int, run_id: int | None = None,
                                      handover: int | None = None) -> str:
    return _bounded(opportunities_deletion_sweep_task, opportunities_deletion_sweep, connection_id, run_id, handover)


@shared_task(name="ghl_integration.opportunities.reconcile_all")
def opportunities_reconcile_all_task() -> int:
    """Beat: one opportunity reconciliation per active location connection."""
    connections = connections_for_sync()
    for connection in connections:
        opportunities_reconcile_task.delay(connection.pk)
    return len(connections)


@shared_task(name="ghl_integration.opportunities.deletion_sweep_all")
def opportunities_deletion_sweep_all_task() -> int:
    """Beat (nightly): one opportunity deletion sweep per active location connection."""
    connections = connections_for_sync()
    for connection in connections:
        opportunities_deletion_sweep_task.delay(connection.pk)
    return len(connections)


def opportunities_on_connected(sender, *, connection: GhlConnection, **kwargs) -> None:
    """Receiver of `connection_connected`: queue the pull after the commit, so a slow GHL never holds the OAuth
    callback (if the broker is down, the next reconciliation finds no pull and runs it)."""
    from django.conf import settings

    if connection.is_agency or not settings.GHL_SYNC_PULL_ON_CONNECT:
        return

    def send() -> None:
        try:
            opportunities_pull_task.delay(connection.pk)
        except Exception as exc:  # the connection stands; the pull can be queued again
            logger.warning("ghl.opportunities.pull-enqueue-failed",
                           extra={"connection_id": connection.pk, "error": f"{type(exc).__name__}: {exc}"})

    transaction.on_commit(send)
