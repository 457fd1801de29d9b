"""Celery tasks of the crm app (thin: each calls one service)."""
from celery import shared_task

from .sync.history import remote_changes_prune


@shared_task(name="crm.sync.prune_remote_changes", ignore_result=True)
def prune_remote_changes_task() -> int:
    return remote_changes_prune()
