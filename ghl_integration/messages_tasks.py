"""Celery tasks of the messaging side of GHL (thin: ids in, one service call)."""
from celery import shared_task

from .messages_reconcile import messages_reconcile
from .models import GhlConnection


@shared_task(name="ghl_integration.messages.reconcile", ignore_result=True)
def messages_reconcile_task(connection_id: int) -> None:
    connection = GhlConnection.objects.filter(pk=connection_id, status=GhlConnection.Status.ACTIVE).first()
    if connection is not None:
        messages_reconcile(connection=connection)


@shared_task(name="ghl_integration.messages.reconcile_all", ignore_result=True)
def messages_reconcile_all_task() -> int:
    from .sync.reconcile import connections_for_sync

    connections = connections_for_sync()
    for connection in connections:
        messages_reconcile_task.delay(connection.pk)
    return len(connections)
