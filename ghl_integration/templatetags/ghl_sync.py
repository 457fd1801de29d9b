"""`{% ghl_contact_sync_settings %}`: the contact sync section of the settings page (policy + field mapping)."""
from django import template

from crm.models import Contact
from crm.sync.mapping import validate_local_field
from crm.sync.models import DataType, Direction

from ..contacts.shape import STANDARD_CONTACT_FIELDS
from ..selectors import connection_sync_settings
from ..services.sync_settings import DND_MAPPINGS
from ..settings_views import DELETE_LABELS, POLICY_LABELS

register = template.Library()


def _local_fields() -> list[str]:
    names = []
    for field in Contact._meta.get_fields():
        try:
            validate_local_field(Contact, field.name)
        except Exception:  # noqa: S112 - not mappable (relations, ids, the JSON bag itself)
            continue
        names.append(field.name)
    return names


@register.inclusion_tag("ghl_integration/_contact_sync_settings.html", takes_context=True)
def ghl_contact_sync_settings(context, organization, connection):
    data = connection_sync_settings(connection=connection) if connection and connection.location_id else None
    return {
        "csrf_token": context.get("csrf_token"),
        "organization": organization,
        "connection": connection,
        "sync": data,
        "policy_labels": POLICY_LABELS,
        "delete_labels": DELETE_LABELS,
        "data_types": DataType.choices,
        "directions": Direction.choices,
        "standard_keys": list(STANDARD_CONTACT_FIELDS),
        "local_fields": _local_fields(),
        # Bound forms a refused POST hands back: their errors show beside the fields, their input is kept.
        "policy_form": context.get("policy_form"),
        "mapping_form": context.get("mapping_form"),
        "dnd_keys": list(DND_MAPPINGS),
    }


@register.inclusion_tag("ghl_integration/_opportunity_sync_settings.html", takes_context=True)
def ghl_opportunity_sync_settings(context, organization, connection):
    """The opportunity section: their own conflict policy and the mapping of GHL's opportunity custom fields."""
    from crm.sync.conflict import policy_table_for
    from crm.sync.kinds import OPPORTUNITY
    from crm.sync.models import FieldMapping

    from ..opportunities.mapping import PROVIDER, opportunity_custom_fields

    if not (connection and connection.location_id):
        return {"opportunity_sync": None}
    rows = FieldMapping.objects.for_org(organization).filter(provider=PROVIDER, account_id=connection.location_id,
                                                             object_type=OPPORTUNITY).order_by("remote_label", "id")
    policy = policy_table_for(organization=organization, provider=PROVIDER, account_id=connection.location_id,
                              object_type=OPPORTUNITY).policy_for("*")
    return {
        "csrf_token": context.get("csrf_token"),
        "organization": organization,
        "opportunity_sync": {"rows": list(rows), "conflict_policy": policy,
                             "custom_fields": opportunity_custom_fields(connection)},
        "policy_labels": POLICY_LABELS,
        "data_types": DataType.choices,
        "directions": Direction.choices,
        "opportunity_policy_form": context.get("opportunity_policy_form"),
        "opportunity_mapping_form": context.get("opportunity_mapping_form"),
    }


@register.inclusion_tag("ghl_integration/_outbound_switches.html", takes_context=True)
def ghl_outbound_switches(context, organization, connection):
    """One switch per kind: does a change made here go to GHL."""
    from ..outbound_switch_views import KIND_LABELS
    from ..sync.targets import OUTBOUND_SWITCHES, outbound_enabled

    if not (connection and connection.location_id):
        return {"outbound": None}
    return {
        "csrf_token": context.get("csrf_token"),
        "organization": organization,
        "outbound": [{"key": key, "label": KIND_LABELS[kind], "enabled": outbound_enabled(connection, kind)}
                     for kind, key in OUTBOUND_SWITCHES.items()],
    }
