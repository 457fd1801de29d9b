"""GHL calendars mirrored into `crm.Calendar`: on connect (`calendars_sync_on_connect`) and by the beat.

Each run lists the location's calendars (drafts included) and reads the location's timezone, upserts every
calendar through its link, and archives linked calendars GHL no longer lists. Two requests per location.
"""
import logging
from dataclasses import dataclass

from crm.services.calendars import calendar_upsert_from_remote, calendars_archive_missing

from ..client import GhlClient
from ..installation import GhlInstallation
from ..models import GhlConnection
from .backend import PROVIDER
from .shape import calendar_fields_from_ghl

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalendarsRefreshed:
    upserted: int
    archived: int


def calendars_refresh(*, connection: GhlConnection, client: GhlClient | None = None) -> CalendarsRefreshed:
    """Mirror the connection's GHL calendars (name, type, zone, slot rules, open hours, team, cancel/reschedule)."""
    client = client or GhlInstallation(connection).get_client()
    timezone = client.locations.get().get("timezone") or "UTC"
    remote = client.calendars.list(show_drafted=True)
    for cal in remote:
        calendar_upsert_from_remote(
            organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
            external_id=cal["id"], fields=calendar_fields_from_ghl(cal, timezone=timezone),
            connection_id=connection.pk,
        )
    archived = calendars_archive_missing(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        present_external_ids={cal["id"] for cal in remote},
    )
    logger.info("ghl.calendars.refreshed", extra={"connection_id": connection.pk, "calendars": len(remote),
                                                  "archived": archived})
    return CalendarsRefreshed(upserted=len(remote), archived=archived)


def calendars_sync_on_connect(*, connection: GhlConnection) -> None:
    """The one hook for the connect flow: mirror the calendars and import the appointments once a location is
    connected (queued after commit, so a slow GHL never holds the OAuth callback)."""
    from django.db import transaction

    from .tasks import appointments_reconcile_task, calendars_refresh_task

    def send() -> None:
        try:
            calendars_refresh_task.delay(connection.pk)
            # The location's first appointment pass: its import (announces nothing), the widest window.
            appointments_reconcile_task.delay(connection.pk, full=True)
        except Exception as exc:  # broker down: the connection stands; the beats mirror calendars and appointments
            logger.warning("ghl.calendars.refresh-enqueue-failed",
                           extra={"connection_id": connection.pk, "error": f"{type(exc).__name__}: {exc}"})

    transaction.on_commit(send)


def calendars_on_connected(sender, *, connection: GhlConnection, **kwargs) -> None:
    """Receiver of `connection_connected` for a location (with ``GHL_SYNC_PULL_ON_CONNECT``, like the other kinds'
    first pulls): `calendars_sync_on_connect`."""
    from django.conf import settings

    if connection.is_agency or not settings.GHL_SYNC_PULL_ON_CONNECT:
        return
    calendars_sync_on_connect(connection=connection)


def calendars_refresh_queue_all() -> int:
    """Queue one refresh per active location connection (each its own task on the pulls queue, so the beat's
    task stays short however many locations there are, and a failing or slow one holds up no other)."""
    from .tasks import calendars_refresh_task

    connections = list(GhlConnection.objects.filter(status=GhlConnection.Status.ACTIVE).exclude(location_id="")
                       .values_list("pk", flat=True))
    for connection_id in connections:
        calendars_refresh_task.delay(connection_id)
    return len(connections)
