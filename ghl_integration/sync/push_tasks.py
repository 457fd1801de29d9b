"""Celery tasks of the GHL push worker, every kind of record (thin: ids in, one call to `push.py`)."""
from celery import shared_task

from .push import outbox_push_pending, outbox_push_sweep


# The task names predate pushes of kinds other than contacts; they are kept because queued messages and the
# beat schedule carry them.
@shared_task(name="ghl_integration.sync.push_contacts", ignore_result=True)
def outbox_push_pending_task(connection_id: int) -> dict[str, int]:
    """Drain one connection's outbox into GHL, every kind by its pusher (queued after each local change, and
    by the sweep)."""
    return outbox_push_pending(connection_id=connection_id)


@shared_task(name="ghl_integration.sync.sweep_contact_outbox", ignore_result=True)
def outbox_push_sweep_task() -> int:
    """Beat: queue a push for every connection with due outbox entries (retries after backoff, lost messages)."""
    return outbox_push_sweep()
