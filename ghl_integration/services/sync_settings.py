"""Per-connection contact sync settings: conflict policy, delete policy, field mapping (settings page, admin)."""
import dataclasses
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.models import Contact
from crm.services.external_ids import external_ids_forget_remote_state
from crm.sync.conflict import conflict_policy_set
from crm.sync.kinds import CONTACT
from crm.sync.locks import SyncBusy
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.mapping import infer_data_type, validate_local_field
from crm.sync.models import DataType, Direction, FieldMapping

from ..connections import ConnectionInactive
from ..contacts.mapping import GHL_FIELD_TYPES, ghl_field_options
from ..contacts.outbound import DELETE_POLICIES, DELETE_POLICY_KEY, PROVIDER
from ..contacts.shape import CUSTOM_PREFIX, STANDARD_CONTACT_FIELDS
from ..installation import GhlInstallation
from ..models import GhlConnection

CONNECTION_POLICIES = ("remote_wins", "local_wins", "newest_wins")
CUSTOM_FIELDS_KEY = "contact_custom_fields"
# GHL's do-not-disturb keys and the local fields they fill: always mapped, both ways, so a DND set on either
# side is honoured on the other (an unmapped DND means texting someone who opted out).
DND_MAPPINGS = {key: local for key, local in STANDARD_CONTACT_FIELDS.items() if local.startswith("dnd_")}
DND_KEPT_MESSAGE = ("Do-not-disturb is always synced: GHL's {key} stays mapped to {local}, both ways, so an opt-out "
                    "made in either place is honoured in the other.")
REPLACES_DEFAULT_WARNING = ("{key} was mapped to {default} by default; it now fills {local} instead. "
                            "Use “Reset to default” to bring the default back.")
REAPPLY_BUSY_WARNING = ("A contact pull is running with the previous mapping. Press “Resync contacts” when it "
                        "finishes so every contact follows the new one.")


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
    """Fetch the location's contact custom fields from GHL and keep them on the connection (for the mapping form);
    the mapping rows of those fields take GHL's current names and allowed values (the contact form offers them)."""
    fields = [
        {"id": f.get("id"), "name": f.get("name", ""), "fieldKey": f.get("fieldKey", ""),
         "dataType": f.get("dataType", ""), "options": ghl_field_options(f)}
        for f in GhlInstallation(connection).get_client().locations.custom_fields(model="contact")
    ]
    with transaction.atomic():
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        locked.config = {**(locked.config or {}), CUSTOM_FIELDS_KEY: fields}
        locked.save(update_fields=["config", "updated_at"])
        rows = {row.remote_key: row for row in FieldMapping.objects.for_org(connection.organization).filter(
            provider=PROVIDER, account_id=connection.location_id, object_type=CONTACT,
            remote_key__startswith=CUSTOM_PREFIX).select_for_update()}
        for field in fields:
            row = rows.get(f"{CUSTOM_PREFIX}{field['id']}")
            label = (field["name"] or "")[:200]
            if row is not None and (row.options != field["options"] or row.remote_label != label):
                row.options, row.remote_label = field["options"], label
                row.save(update_fields=["options", "remote_label", "updated_at"])
    return fields


def _listed_field(connection: GhlConnection, remote_key: str) -> dict[str, Any] | None:
    """GHL's custom field behind ``customFields.<id or key>`` in the connection's last listing."""
    ref = remote_key[len(CUSTOM_PREFIX):]
    for field in (connection.config or {}).get(CUSTOM_FIELDS_KEY, []):
        if ref in (field["id"], field["fieldKey"], field["fieldKey"].removeprefix("contact.")):
            return field
    return None


def _listed_options(connection: GhlConnection, remote_key: str) -> dict[str, list[str]]:
    """``{"options": [...]}`` from the listing of GHL's field, or nothing when the listing does not say."""
    field = _listed_field(connection, remote_key) if remote_key.startswith(CUSTOM_PREFIX) else None
    return {"options": field["options"]} if field and "options" in field else {}


def _expected_type(connection: GhlConnection, remote_key: str) -> str | None:
    if remote_key in STANDARD_CONTACT_FIELDS:
        return infer_data_type(Contact, STANDARD_CONTACT_FIELDS[remote_key])
    field = _listed_field(connection, remote_key) if remote_key.startswith(CUSTOM_PREFIX) else None
    return GHL_FIELD_TYPES.get(field["dataType"]) if field else None


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
    if not errors and remote_key in DND_MAPPINGS and (
            local_field != DND_MAPPINGS[remote_key] or direction != Direction.BOTH):
        errors["local_field"] = DND_KEPT_MESSAGE.format(key=remote_key, local=DND_MAPPINGS[remote_key])
    if not errors and not local_field.startswith(LOCAL_CUSTOM_PREFIX):
        taken_by = _mapped_from(connection, local_field, other_than=remote_key)
        if taken_by:
            errors["local_field"] = (f"{local_field} is already filled from GHL's {taken_by}; change or reset that "
                                     "mapping first (one local field takes one GHL field).")
    if errors:
        raise ValidationError(errors)


def _mapped_from(connection: GhlConnection, local_field: str, *, other_than: str) -> str | None:
    """The GHL key another active mapping fills ``local_field`` from, if any."""
    from ..contacts.mapping import contact_mapping_for

    for spec in contact_mapping_for(connection).specs:
        if spec.local_field == local_field and spec.remote_key != other_than:
            return spec.remote_key
    return None


@dataclasses.dataclass
class MappingChange:
    row: FieldMapping | None
    warnings: list[str] = dataclasses.field(default_factory=list)


@transaction.atomic
def field_mapping_set(*, connection: GhlConnection, remote_key: str, local_field: str, data_type: str,
                      direction: str = Direction.BOTH, is_active: bool = True) -> MappingChange:
    """Create or change the mapping of one GHL field for the connection (clears its last error) and re-apply
    the mapping to the existing contacts. Warns when it replaces one of GHL's default mappings."""
    if not is_active and remote_key in DND_MAPPINGS:
        raise ValidationError({"is_active": DND_KEPT_MESSAGE.format(key=remote_key, local=DND_MAPPINGS[remote_key])})
    field_mapping_validate(connection=connection, remote_key=remote_key, local_field=local_field,
                           data_type=data_type, direction=direction)
    row, _ = FieldMapping.objects.update_or_create(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        object_type=CONTACT, remote_key=remote_key,
        defaults={"local_field": local_field, "data_type": data_type, "direction": direction,
                  "is_active": is_active, "last_error": "", "last_error_at": None,
                  **_listed_options(connection, remote_key)},
    )
    warnings = []
    default = STANDARD_CONTACT_FIELDS.get(remote_key)
    if default and (default != local_field or not is_active):
        warnings.append(REPLACES_DEFAULT_WARNING.format(key=remote_key, default=default,
                                                        local=local_field if is_active else "nothing"))
    warnings += _reapply(connection)
    return MappingChange(row, warnings)


@transaction.atomic
def field_mapping_remove(*, connection: GhlConnection, remote_key: str) -> MappingChange:
    """Delete the account's mapping row of ``remote_key``: a GHL standard field goes back to its default
    mapping, a custom field is no longer synced. Re-applies the mapping to the existing contacts."""
    deleted, _ = FieldMapping.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type=CONTACT, remote_key=remote_key).delete()
    if not deleted:
        raise ValidationError({"remote_key": f"{remote_key} has no mapping of its own to remove."})
    return MappingChange(None, _reapply(connection))


def _reapply(connection: GhlConnection) -> list[str]:
    """After a mapping change: every linked contact is applied again by a fresh pull (watermarks forgotten, or
    the pull would skip records it has seen), so no contact keeps values of the old mapping."""
    from ..contacts.services import contacts_resync_request

    external_ids_forget_remote_state(organization=connection.organization, provider=PROVIDER,
                                     account_id=connection.location_id, model=Contact)
    try:
        contacts_resync_request(connection=connection)
    except SyncBusy:
        return [REAPPLY_BUSY_WARNING]
    except ConnectionInactive:
        return []  # nothing to re-apply from: the next connect pulls everything with the new mapping
    return []
