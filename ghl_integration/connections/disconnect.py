"""Disconnecting: the owner's button, an UNINSTALL webhook, or the agency connection going away."""
import logging

from django.db import transaction
from django.utils import timezone

from ..models import GhlConnection

logger = logging.getLogger(__name__)


def connection_disconnect(*, connection: GhlConnection, status: str = GhlConnection.Status.DISCONNECTED) -> None:
    """Stop all sync for the connection at once and wipe its tokens. CRM rows and external-id links stay.

    Nothing needs telling: every sync entry point and the token provider read the status, so the next request
    for this location is refused (a running pull stops at its next disconnect check)."""
    with transaction.atomic():
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        locked.status = status
        locked.access_token = None
        locked.refresh_token = None
        locked.token_expires_at = None
        locked.disconnected_at = timezone.now()
        locked.save()
        # Location connections minted from an agency token cannot outlive it.
        children = list(
            GhlConnection.objects.select_for_update()
            .filter(agency_connection=locked, status=GhlConnection.Status.ACTIVE)
            .values_list("pk", flat=True)
        )
    for child_id in children:
        connection_disconnect(connection=GhlConnection.objects.get(pk=child_id), status=status)
    connection.refresh_from_db()
    logger.info("ghl.connection.deactivated", extra={"connection_id": connection.pk, "status": status})
