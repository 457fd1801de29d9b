"""Read-side queries of the webhook inbox."""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from ghl_integration.models import GhlConnection, WebhookEvent


def connection_active_for_event(*, location_id: str, company_id: str) -> GhlConnection | None:
    """The active connection an event belongs to, found by GHL location (or, for agency events, company).

    Deliberately not scoped by organization: the event is how we find the organization.
    """
    active = GhlConnection.objects.filter(status=GhlConnection.Status.ACTIVE)
    if location_id:
        return active.filter(location_id=location_id).order_by("pk").first()
    if company_id:
        return active.filter(company_id=company_id, token_level=GhlConnection.TokenLevel.COMPANY).order_by("pk").first()
    return None


def webhook_events_needing_requeue(*, now: datetime, requeue_after: timedelta, limit: int) -> QuerySet:
    """Events a worker should have picked up by now: stuck in `received`, an overdue retry, an expired claim.
    Rows of (id, status)."""
    stale = now - requeue_after
    S = WebhookEvent.Status
    return (
        WebhookEvent.objects.filter(
            Q(status=S.RECEIVED, queued_at__lt=stale)
            | Q(status=S.FAILED, next_attempt_at__lt=stale, queued_at__lt=stale)
            | Q(status=S.PROCESSING, lease_expires_at__lt=now)  # the lease was the wait
        )
        .order_by("queued_at")
        .values_list("pk", "status")[:limit]
    )


# Events whose handler has not run yet (or will run again): what GHL told us that our mirror does not hold yet.
UNAPPLIED = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.PROCESSING, WebhookEvent.Status.FAILED)


def webhook_events_unapplied_for(*, location_id: str, object_id: str) -> bool:
    """Is an event about the GHL record ``object_id`` of this location waiting in the inbox (received, claimed
    or to be retried)? Such a record's remote state is newer than our mirror's. The inbox's unapplied part is
    small (it drains within seconds), so the body's text is searched for the quoted id."""
    return WebhookEvent.objects.filter(location_id=location_id, status__in=UNAPPLIED,
                                       body__contains=f'"{object_id}"').exists()
