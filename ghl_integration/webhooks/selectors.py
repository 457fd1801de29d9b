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
