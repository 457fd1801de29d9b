"""Reads of GHL connection state, always scoped to one organization."""
from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, Count, IntegerField, Value, When

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
    """How many local rows are linked to this connection's location, per object type in words ("1 pipeline",
    "50 contacts"), most first. Counted in the database: the live card asks every 2 s, and a location of
    100,000 contacts has as many links."""
    if not connection.location_id:
        return {}
    rows = (
        ExternalIdentity.objects.for_org(connection.organization_id)
        .filter(provider=PROVIDER, account_id=connection.location_id)
        .values("content_type_id").annotate(linked=Count("id")).values_list("content_type_id", "linked")
    )
    counts: dict[str, int] = {}
    for content_type_id, linked in rows:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        meta = model._meta if model else None
        label = str((meta.verbose_name if linked == 1 else meta.verbose_name_plural) if meta else "other")
        counts[label] = counts.get(label, 0) + linked
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def connection_sync_settings(*, connection: GhlConnection) -> dict:
    """What the settings page's sync section shows: policies and the effective field mapping with errors."""
    from crm.sync.conflict import DEFAULT_POLICY, policy_table_for
    from crm.sync.kinds import CONTACT
    from crm.sync.models import FieldMapping

    from .contacts.outbound import DELETE_POLICY_KEY, contact_mapping_for
    from .services.sync_settings import CUSTOM_FIELDS_KEY

    table = policy_table_for(organization=connection.organization_id, provider=PROVIDER,
                             account_id=connection.location_id)
    rows = {r.remote_key: r for r in FieldMapping.objects.for_org(connection.organization_id).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type=CONTACT)}
    mapping = contact_mapping_for(connection)
    custom = {f"customFields.{f['id']}": f for f in (connection.config or {}).get(CUSTOM_FIELDS_KEY, [])}
    from .contacts.shape import STANDARD_CONTACT_FIELDS

    def label_of(key: str, row) -> str:
        return (custom.get(key) or {}).get("name") or (row.remote_label if row is not None else "")

    entries = []
    for spec in mapping.specs:
        row = rows.pop(spec.remote_key, None)
        entries.append({"remote_key": spec.remote_key, "label": label_of(spec.remote_key, row),
                        "local_field": spec.local_field, "data_type": spec.data_type, "direction": spec.direction,
                        "is_active": True, "customised": row is not None,
                        "default_local_field": STANDARD_CONTACT_FIELDS.get(spec.remote_key, ""),
                        "last_error": row.last_error if row else "",
                        "last_error_at": row.last_error_at if row else None})
    for row in rows.values():  # switched off, or rejected fields recorded for a default
        entries.append({"remote_key": row.remote_key, "label": label_of(row.remote_key, row),
                        "local_field": row.local_field, "data_type": row.data_type, "direction": row.direction,
                        "is_active": row.is_active, "customised": True,
                        "default_local_field": STANDARD_CONTACT_FIELDS.get(row.remote_key, ""),
                        "last_error": row.last_error, "last_error_at": row.last_error_at})
    return {
        "conflict_policy": table.rows.get("*", DEFAULT_POLICY),
        "delete_policy": (connection.config or {}).get(DELETE_POLICY_KEY, "keep"),
        "mapping": entries,
        "custom_fields": list(custom.values()),
    }


def agency_placeholder_name(company_id: str) -> str:
    """What an agency connection is called until GHL names its company."""
    return f"Agency {company_id}"


def agency_name_for(*, organization, company_id: str) -> str:
    """The agency's name: as GHL named the company when the organization's agency connected, else as GHL's
    install events gave it ("" when neither did)."""
    from .models import GhlAppInstallState

    if not company_id:
        return ""
    names = GhlConnection.objects.for_org(organization).filter(
        company_id=company_id, token_level=GhlConnection.TokenLevel.COMPANY).order_by("-updated_at").values_list(
        "location_name", flat=True)
    for name in names:
        if name and name != agency_placeholder_name(company_id):
            return name
    for details in GhlAppInstallState.objects.filter(details__companyId=company_id).values_list("details", flat=True):
        if details.get("companyName"):
            return details["companyName"]
    state = GhlAppInstallState.objects.filter(resource_id=company_id).first()
    return (state.details or {}).get("companyName", "") if state else ""
