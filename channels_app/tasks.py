"""Celery tasks of the channel layer (thin: ids in, one service call)."""
from celery import shared_task

from crm.models import Message

from .errors import ChannelError
from .sending import message_dispatch, messages_dispatch_stuck


@shared_task(name="channels_app.dispatch_message", ignore_result=True)
def message_dispatch_task(message_id: int) -> None:
    if not Message.objects.filter(pk=message_id).exists():
        return
    try:
        message_dispatch(message_id=message_id)
    except ChannelError:
        pass  # the row records the refusal; an outage queued its own retry


@shared_task(name="channels_app.sweep_messages", ignore_result=True)
def messages_sweep_task() -> dict:
    from .status import messages_poll_status

    return {"dispatched": messages_dispatch_stuck(), "polled": messages_poll_status()}
