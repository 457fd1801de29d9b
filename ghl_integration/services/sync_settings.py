"""Per-connection contact sync settings: conflict policy, delete policy, field mapping (settings page, admin)."""
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.models import Contact
from crm.sync.conflict import conflict_policy_set
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.mapping import infer_data_type, validate_local_field
from crm.sync.models import DataType, Direction, FieldMapping

from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.contact_shape import CUSTOM_PREFIX, STANDARD_CONTACT_FIELDS
from ..sync.contacts_outbound import DELETE_POLICIES, DELETE_POLICY_KEY, PROVIDER
from ..sync.mapping import GHL_FIELD_TYPES

CONNECTION_POLICIES = ("remote_wins", "local_wins", "newest_wins")
CUSTOM_FIELDS_KEY = "contact_custom_fields"


@transaction.atomic
def connection_sync_policy_set(*, connection: GhlConnection, conflict_policy: str, delete_policy: str) -> None:
    """Set the connection's default conflict policy (the ``*`` row) and what a local archive does in GHL."""
    if conflict_policy not in CONNECTION_POLICIES:
        raise ValidationError({"conflict_policy": f"Unknown conflict policy {conflict_policy!r}."})
    if delete_policy not in DELETE_POLICIES:
        raise ValidationError({"delete_policy": f"Unknown delete policy {delete_policy!r}."})
    conflict_policy_set(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                        field="*", policy=conflict_policy)
    connection = GhlConnection.objects.select_for_update().get(pk=connection.pk)
    connection.config = {**(connection.config or {}), DELETE_POLICY_KEY: delete_policy}
    connection.save(update_fields=["config", "updated_at"])


def connection_custom_fields_refresh(*, connection: GhlConnection) -> list[dict[str, Any]]:
    """Fetch the location's contact custom fields from GHL and keep them on the connection (for the mapping form)."""
    fields = [
        {"id": f.get("id"), "name": f.get("name", ""), "fieldKey": f.get("fieldKey", ""),
         "dataType": f.get("dataType", "")}
        for f in GhlInstallation(connection).get_client().locations.custom_fields(model="contact")
    ]
    with transaction.atomic():
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        locked.config = {**(locked.config or {}), CUSTOM_FIELDS_KEY: fields}
        locked.save(update_fields=["config", "updated_at"])
    return fields


def _expected_type(connection: GhlConnection, remote_key: str) -> str | None:
    if remote_key in STANDARD_CONTACT_FIELDS:
        return infer_data_type(Contact, STANDARD_CONTACT_FIELDS[remote_key])
    ref = remote_key[len(CUSTOM_PREFIX):]
    for field in (connection.config or {}).get(CUSTOM_FIELDS_KEY, []):
        if ref in (field["id"], field["fieldKey"], field["fieldKey"].removeprefix("contact.")):
            return GHL_FIELD_TYPES.get(field["dataType"])
    return None


def field_mapping_validate(*, connection: GhlConnection, remote_key: str, local_field: str, data_type: str,
                           direction: str) -> None:
    """Raise `ValidationError` (by form field) unless the pair maps values of one type in a known direction."""
    errors: dict[str, str] = {}
    if remote_key not in STANDARD_CONTACT_FIELDS and not (
        remote_key.startswith(CUSTOM_PREFIX) and len(remote_key) > len(CUSTOM_PREFIX)
    ):
        errors["remote_key"] = "Pick a GHL standard field or customFields.<id or key>."
    try:
        validate_local_field(Contact, local_field)
    except ValidationError as exc:
        errors["local_field"] = " ".join(exc.messages)
    if data_type not in DataType.values:
        errors["data_type"] = f"Unknown data type {data_type!r}."
    if direction not in Direction.values:
        errors["direction"] = f"Unknown direction {direction!r}."
    if not errors:
        expected = _expected_type(connection, remote_key)
        if expected and data_type != expected:
            errors["data_type"] = f"GHL's {remote_key} holds {DataType(expected).label.lower()} values."
        elif not local_field.startswith(LOCAL_CUSTOM_PREFIX):
            local_type = infer_data_type(Contact, local_field)
            if local_type != data_type:
                errors["local_field"] = (f"{local_field} holds {DataType(local_type).label.lower()} values, "
                                         f"not {DataType(data_type).label.lower()}.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def field_mapping_set(*, connection: GhlConnection, remote_key: str, local_field: str, data_type: str,
                      direction: str = Direction.BOTH, is_active: bool = True) -> FieldMapping:
    """Create or change the mapping of one GHL field for the connection; clears its last error."""
    field_mapping_validate(connection=connection, remote_key=remote_key, local_field=local_field,
                           data_type=data_type, direction=direction)
    row, _ = FieldMapping.objects.update_or_create(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        remote_key=remote_key,
        defaults={"local_field": local_field, "data_type": data_type, "direction": direction,
                  "is_active": is_active, "last_error": "", "last_error_at": None},
    )
    return row
