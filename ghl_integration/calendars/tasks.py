"""Celery tasks of the calendar mirror (thin: load ids, call one service)."""
from celery import shared_task

from ..models import GhlConnection
from .mirror import calendars_refresh, calendars_refresh_all


@shared_task(name="ghl_integration.calendars.refresh_calendars", ignore_result=True)
def calendars_refresh_task(connection_id: int) -> None:
    connection = GhlConnection.objects.filter(pk=connection_id, status=GhlConnection.Status.ACTIVE).first()
    if connection is None:
        return
    calendars_refresh(connection=connection)


@shared_task(name="ghl_integration.calendars.refresh_all_calendars", ignore_result=True)
def calendars_refresh_all_task() -> dict[str, int]:
    return calendars_refresh_all()
