"""Reads of GHL connection state, always scoped to one organization."""
from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, IntegerField, Value, When

from crm.models import ExternalIdentity

from .models import GhlConnection

PROVIDER = "ghl"


def connection_list_for_org(*, organization) -> list[GhlConnection]:
    """The organization's connections, the active ones first, newest first."""
    return list(
        GhlConnection.objects.for_org(organization)
        .annotate(
            active_first=Case(When(status=GhlConnection.Status.ACTIVE, then=Value(0)), default=Value(1),
                              output_field=IntegerField())
        )
        .order_by("active_first", "-updated_at")
    )


def connection_current_for_org(*, organization) -> GhlConnection | None:
    """The location connection the settings page is about (active if any, else the latest)."""
    for connection in connection_list_for_org(organization=organization):
        if connection.token_level == GhlConnection.TokenLevel.LOCATION:
            return connection
    return None


def connection_agency_for_org(*, organization) -> GhlConnection | None:
    for connection in connection_list_for_org(organization=organization):
        if connection.token_level == GhlConnection.TokenLevel.COMPANY:
            return connection
    return None


def connection_synced_counts(*, connection: GhlConnection) -> dict[str, int]:
    """How many local rows are linked to this connection's location, per object type."""
    if not connection.location_id:
        return {}
    rows = (
        ExternalIdentity.objects.for_org(connection.organization_id)
        .filter(provider=PROVIDER, account_id=connection.location_id)
        .values_list("content_type_id", flat=True)
    )
    counts: dict[str, int] = {}
    for content_type_id in rows:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        label = model._meta.verbose_name_plural if model else "other"
        counts[str(label)] = counts.get(str(label), 0) + 1
    return counts
