"""GHL's default contact field mapping: the standard fields plus the location's contact custom fields.

Standard fields come from `STANDARD_CONTACT_FIELDS` and are passed to `crm.sync.mapping.mapping_for` as data
(they are never stored). GHL custom fields are stored as `FieldMapping` rows (editable in admin and on the
settings page): remote key `customFields.<id>` (the id is what reads and webhooks carry) → local field
`custom_properties.<fieldKey without "contact.">`. They are created once, when a connection is made or
resynced and has no custom field rows yet, so an owner's edits are never overwritten.
"""
import logging

from django.db import transaction

from crm.sync.kinds import CONTACT
from crm.sync.mapping import Mapping, mapping_for
from crm.sync.models import DataType, Direction, FieldMapping

from ..client import GhlClient
from ..models import GhlConnection
from .shape import CUSTOM_PREFIX, STANDARD_CONTACT_FIELDS

logger = logging.getLogger(__name__)

PROVIDER = "ghl"
# GHL custom field dataType → the mapping's data type (anything else is kept as text).
GHL_FIELD_TYPES = {
    "TEXT": DataType.TEXT, "LARGE_TEXT": DataType.TEXT, "SINGLE_OPTIONS": DataType.TEXT, "RADIO": DataType.TEXT,
    "TEXTBOX_LIST": DataType.LIST, "CHECKBOX": DataType.LIST, "MULTIPLE_OPTIONS": DataType.LIST,
    "NUMERICAL": DataType.NUMBER, "MONETORY": DataType.NUMBER, "DATE": DataType.DATE, "PHONE": DataType.PHONE,
    "EMAIL": DataType.EMAIL,
}
# The GHL types whose value is one (or, for the list types, several) of the field's picklistOptions. A
# TEXTBOX_LIST's options name its boxes, not the values allowed in them.
GHL_PICKLIST_TYPES = frozenset({"SINGLE_OPTIONS", "RADIO", "MULTIPLE_OPTIONS", "CHECKBOX"})


def ghl_field_options(field: dict) -> list[str]:
    """The values a GHL custom field allows (empty: any value of its type)."""
    if field.get("dataType") not in GHL_PICKLIST_TYPES:
        return []
    return [str(option) for option in field.get("picklistOptions") or [] if str(option).strip()]


def contact_mapping_for(connection: GhlConnection) -> Mapping:
    """The effective contact mapping of a connection (standard defaults + the account's rows)."""
    return mapping_for(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                       object_type=CONTACT, defaults=STANDARD_CONTACT_FIELDS)


def custom_field_local_key(field_key: str) -> str:
    """``contact.preferred_dentist`` → ``preferred_dentist``."""
    return field_key.removeprefix("contact.")


def contact_mapping_ensure_defaults(*, connection: GhlConnection, client: GhlClient) -> int:
    """Create the custom-field mapping rows from GHL's contact custom fields unless the account has some.

    Returns how many rows were created (0 when the account already had custom field rows). One request.
    """
    rows = FieldMapping.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type=CONTACT,
        remote_key__startswith=CUSTOM_PREFIX)
    if rows.exists():
        return 0
    fields = client.locations.custom_fields(model="contact")
    new = []
    for field in fields:
        field_id, field_key = field.get("id"), field.get("fieldKey") or ""
        if not field_id or not field_key:
            continue
        new.append(FieldMapping(
            organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
            object_type=CONTACT, remote_key=f"{CUSTOM_PREFIX}{field_id}", remote_label=(field.get("name") or "")[:200],
            local_field=f"custom_properties.{custom_field_local_key(field_key)}", direction=Direction.BOTH,
            data_type=GHL_FIELD_TYPES.get(field.get("dataType") or "", DataType.TEXT),
            options=ghl_field_options(field),
        ))
    with transaction.atomic():
        FieldMapping.objects.bulk_create(new, ignore_conflicts=True)
    logger.info("ghl.sync.mapping-created", extra={"connection_id": connection.pk, "custom_fields": len(new)})
    return len(new)
