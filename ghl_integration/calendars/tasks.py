"""Celery tasks of the calendar mirror (thin: load ids, call one service)."""
import logging

from celery import shared_task

from crm.sync.locks import SyncBusy

from ..contacts.reconcile import connections_for_sync
from ..models import GhlConnection
from ..sync.handover import Handover
from . import reconcile as reconcile_module
from .mirror import calendars_refresh, calendars_refresh_queue_all

logger = logging.getLogger(__name__)


@shared_task(name="ghl_integration.calendars.refresh_calendars", ignore_result=True)
def calendars_refresh_task(connection_id: int) -> None:
    connection = GhlConnection.objects.filter(pk=connection_id, status=GhlConnection.Status.ACTIVE).first()
    if connection is None:
        return
    calendars_refresh(connection=connection)


@shared_task(name="ghl_integration.calendars.refresh_all_calendars", ignore_result=True)
def calendars_refresh_all_task() -> int:
    """Beat (hourly): one calendar refresh task per active location connection."""
    return calendars_refresh_queue_all()


@shared_task(name="ghl_integration.calendars.reconcile_appointments", ignore_result=True)
def appointments_reconcile_task(connection_id: int, full: bool = False, run_id: int | None = None,
                                handover: int | None = None) -> None:
    """One bounded run; ``run_id``/``handover``: continue the run that ran out of time and queued this."""
    connection = GhlConnection.objects.filter(pk=connection_id, status=GhlConnection.Status.ACTIVE).first()
    if connection is None:
        return
    try:
        result = reconcile_module.appointments_reconcile(
            connection=connection, full=full, budget_seconds=reconcile_module.BUDGET_SECONDS,
            handover=Handover(run_id, handover) if run_id is not None else None)
    except SyncBusy:
        # The running one covers the same window (or a wider one); the next run comes soon.
        logger.info("ghl.appointments.reconcile.already-running", extra={"connection_id": connection_id})
        return
    if result is not None and result.handover is not None:  # queued once the location's lock is free again
        appointments_reconcile_task.apply_async((connection_id, full, result.handover.run_id,
                                                 result.handover.number))


@shared_task(name="ghl_integration.calendars.reconcile_all_appointments", ignore_result=True)
def appointments_reconcile_all_task(full: bool = False) -> int:
    """Beat: one appointment reconciliation per active location connection (``full``: the nightly wide pass)."""
    connections = connections_for_sync()
    for connection in connections:
        appointments_reconcile_task.delay(connection.pk, full=full)
    return len(connections)
