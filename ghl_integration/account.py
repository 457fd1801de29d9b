"""The organisation's GHL location as `crm.account` sees it (name, zone, whether it is connected), and the
location details kept on the connection for it.

The location's time zone comes with ``GET /locations/{id}`` (read on connect and on every opportunity metadata
refresh) and is kept on the connection (``config["location_timezone"]``), so a read never asks GHL.
"""
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from crm.account import CrmAccount

from .models import GhlConnection
from .provider import GHL
from .selectors import connection_current_for_org

TIMEZONE_KEY = "location_timezone"


def location_details_keep(*, connection: GhlConnection, location: dict) -> None:
    """Keep what the location says of itself that reads need (its IANA time zone) on the connection."""
    zone = str(location.get("timezone") or "").strip()
    if not zone or (connection.config or {}).get(TIMEZONE_KEY) == zone:
        return
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):  # GHL's list is IANA's; a zone we cannot read is not kept
        return
    with transaction.atomic():
        row = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        row.config = {**(row.config or {}), TIMEZONE_KEY: zone}
        row.save(update_fields=["config", "updated_at"])
    connection.config = row.config


def _when(raw) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(raw) if raw else None
    except (TypeError, ValueError):
        return None


def ghl_account_for(organization) -> CrmAccount | None:
    """`crm.account`'s finder: the organisation's location connection (the active one, else the latest)."""
    from .conversations.reconcile import WATERMARK_KEY as MESSAGES_WATERMARK_KEY  # (it imports the client)

    connection = connection_current_for_org(organization=organization)
    if connection is None:
        return None
    config = connection.config or {}
    return CrmAccount(
        provider=GHL.key, account_id=connection.location_id, name=connection.location_name or connection.location_id,
        connected=connection.status == GhlConnection.Status.ACTIVE, status=connection.status,
        timezone=config.get(TIMEZONE_KEY, ""), connected_at=connection.connected_at,
        messages_checked_at=_when(config.get(MESSAGES_WATERMARK_KEY)),
    )
