"""Celery tasks of the messaging side of GHL (thin: ids in, one service call)."""
import logging

from celery import shared_task

from crm.sync.locks import SyncBusy

from ..models import GhlConnection
from . import reconcile as reconcile_module

logger = logging.getLogger(__name__)


@shared_task(name="ghl_integration.messages.reconcile", ignore_result=True)
def messages_reconcile_task(connection_id: int, handover: int | None = None) -> None:
    """One bounded run; ``handover``: continue the walk the run that ran out of time queued this for."""
    connection = GhlConnection.objects.filter(pk=connection_id, status=GhlConnection.Status.ACTIVE).first()
    if connection is None:
        return
    try:
        result = reconcile_module.messages_reconcile(
            connection=connection, budget_seconds=reconcile_module.BUDGET_SECONDS, handover=handover)
    except SyncBusy:  # the one running continues the walk itself
        logger.info("ghl.messages.reconcile-already-running", extra={"connection_id": connection_id})
        return
    if result.handover is not None:  # queued once the location's lock is free again (the service returned)
        messages_reconcile_task.apply_async((connection_id, result.handover))


@shared_task(name="ghl_integration.messages.reconcile_all", ignore_result=True)
def messages_reconcile_all_task() -> int:
    from ..contacts.reconcile import connections_for_sync

    connections = connections_for_sync()
    for connection in connections:
        messages_reconcile_task.delay(connection.pk)
    return len(connections)
