"""GHL's opportunity custom fields as `FieldMapping` rows of the ``opportunity`` kind (``object_type``).

GHL's own opportunity fields (name, pipeline and stage, status, value, contact, assignee, lost reason, source) are
synced as they are (`inbound.OpportunityResolver`); the location's opportunity custom fields
(``GET /locations/{id}/customFields?model=opportunity``) map like contact custom fields: remote key
``customFields.<id>`` (what reads and writes carry) → ``custom_properties.<fieldKey without "opportunity.">``,
with the data type GHL gives the field, both ways unless the owner says otherwise.

`opportunity_mapping_refresh` runs with the mirror (connect, every reconciliation, a deal carrying a field we do
not know): it adds a row for each field GHL lists that has none, and keeps the labels current. It never changes
or re-adds a row the owner edited or switched off; "remove" switches a row off (kept, so it stays off). A new
field whose local name another row already fills is added switched off, saying why.

The owner's edits (`opportunity_field_mapping_set` / `_remove`, the settings page) are validated against the
opportunity model and GHL's field type, then every deal is applied again by a fresh pull.
"""
import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.models import Opportunity
from crm.services.external_ids import external_ids_forget_remote_state
from crm.sync.kinds import OPPORTUNITY
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.mapping import Mapping, mapping_for, validate_local_field
from crm.sync.models import DataType, Direction, FieldMapping

from ..client import GhlClient
from ..contacts.mapping import GHL_FIELD_TYPES, ghl_field_options
from ..contacts.shape import CUSTOM_PREFIX
from ..models import GhlConnection
from .shape import custom_key

logger = logging.getLogger(__name__)

PROVIDER = "ghl"
FIELDS_KEY = "opportunity_custom_fields"  # connection.config: GHL's last listing, for the form and its checks
TAKEN_MESSAGE = "GHL's field {label} would also fill {local}, which {other} fills already; map it to another key."
STANDARD_MESSAGE = ("{local} is filled from GHL's own opportunity field; a custom field maps to "
                    "custom_properties.<key>.")


def opportunity_mapping_for(connection: GhlConnection) -> Mapping:
    """The connection's effective opportunity custom-field mapping (its active rows; one query)."""
    return mapping_for(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                       object_type=OPPORTUNITY, defaults={})


def _rows(connection: GhlConnection):
    return FieldMapping.objects.for_org(connection.organization).filter(
        provider=PROVIDER, account_id=connection.location_id, object_type=OPPORTUNITY)


def _listing(fields: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"id": f["id"], "name": f.get("name") or "", "fieldKey": f.get("fieldKey") or "",
             "dataType": f.get("dataType") or "", "options": ghl_field_options(f)}
            for f in fields if f.get("id") and f.get("model") in (None, "opportunity")]


def opportunity_mapping_refresh(*, connection: GhlConnection, client: GhlClient) -> int:
    """Add the rows of GHL's opportunity custom fields that have none; keep labels, allowed values (a picklist's
    options, which the services check a local edit against) and the listing current. One request; returns how
    many rows were added."""
    listing = _listing(client.locations.custom_fields(model="opportunity"))
    with transaction.atomic():
        existing = {row.remote_key: row for row in _rows(connection).select_for_update()}
        filled = {row.local_field: row.remote_key for row in existing.values() if row.is_active}
        added = 0
        for field in listing:
            remote_key = f"{CUSTOM_PREFIX}{field['id']}"
            label = field["name"][:200]
            row = existing.get(remote_key)
            if row is not None:
                if row.remote_label != label or row.options != field["options"]:
                    row.remote_label, row.options = label, field["options"]
                    row.save(update_fields=["remote_label", "options", "updated_at"])
                continue
            local = f"{LOCAL_CUSTOM_PREFIX}{custom_key(field['fieldKey'] or field['id'])}"
            other = filled.get(local)
            FieldMapping.objects.create(
                organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                object_type=OPPORTUNITY, remote_key=remote_key, remote_label=label, local_field=local,
                direction=Direction.BOTH, data_type=GHL_FIELD_TYPES.get(field["dataType"], DataType.TEXT),
                options=field["options"], is_active=other is None,
                last_error=TAKEN_MESSAGE.format(label=label or remote_key, local=local, other=other) if other else "")
            filled.setdefault(local, remote_key)
            added += 1
        locked = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        if (locked.config or {}).get(FIELDS_KEY) != listing:
            locked.config = {**(locked.config or {}), FIELDS_KEY: listing}
            locked.save(update_fields=["config", "updated_at"])
            connection.config = locked.config
    if added:
        logger.info("ghl.opportunities.mapping-added", extra={"connection_id": connection.pk, "added": added})
    return added


def opportunity_custom_fields(connection: GhlConnection) -> list[dict[str, str]]:
    """GHL's opportunity custom fields as last listed (id, name, fieldKey, dataType, options)."""
    return list((connection.config or {}).get(FIELDS_KEY) or [])


def opportunity_field_mapping_validate(*, connection: GhlConnection, remote_key: str, local_field: str,
                                       data_type: str, direction: str) -> None:
    """Raise `ValidationError` (by form field) unless the row maps one of GHL's opportunity custom fields onto a
    custom property of the opportunity model, with GHL's type, in a known direction, filling no other row's."""
    errors: dict[str, str] = {}
    field_id = remote_key[len(CUSTOM_PREFIX):] if remote_key.startswith(CUSTOM_PREFIX) else ""
    known = {f["id"]: f for f in opportunity_custom_fields(connection)}
    if field_id not in known and not _rows(connection).filter(remote_key=remote_key).exists():
        errors["remote_key"] = ("Pick one of GHL's opportunity custom fields (customFields.<id>); load them from "
                                "GHL if it is new.")
    try:
        validate_local_field(Opportunity, local_field)
        if not local_field.startswith(LOCAL_CUSTOM_PREFIX):
            raise ValidationError(STANDARD_MESSAGE.format(local=local_field))
    except ValidationError as exc:
        errors["local_field"] = " ".join(exc.messages)
    if data_type not in DataType.values:
        errors["data_type"] = f"Unknown data type {data_type!r}."
    elif field_id in known:
        expected = GHL_FIELD_TYPES.get(known[field_id]["dataType"], DataType.TEXT)
        if data_type != expected:
            errors["data_type"] = f"GHL's {known[field_id]['name'] or remote_key} holds " \
                                  f"{DataType(expected).label.lower()} values."
    if direction not in Direction.values:
        errors["direction"] = f"Unknown direction {direction!r}."
    if "local_field" not in errors:
        other = (_rows(connection).filter(local_field=local_field, is_active=True).exclude(remote_key=remote_key)
                 .values_list("remote_key", flat=True).first())
        if other:
            errors["local_field"] = (f"{local_field} is already filled from GHL's {other}; change or switch off that "
                                     "mapping first (one local field takes one GHL field).")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def opportunity_field_mapping_set(*, connection: GhlConnection, remote_key: str, local_field: str, data_type: str,
                                  direction: str = Direction.BOTH, is_active: bool = True) -> FieldMapping:
    """Create or change the mapping of one GHL opportunity custom field (clears its last error), then re-apply
    the mapping to every deal (see `opportunity_mapping_reapply`)."""
    opportunity_field_mapping_validate(connection=connection, remote_key=remote_key, local_field=local_field,
                                       data_type=data_type, direction=direction)
    listed = next((f for f in opportunity_custom_fields(connection) if f"{CUSTOM_PREFIX}{f['id']}" == remote_key),
                  None)
    label = listed["name"] if listed else ""
    row, _ = FieldMapping.objects.update_or_create(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        object_type=OPPORTUNITY, remote_key=remote_key,
        defaults={"local_field": local_field, "data_type": data_type, "direction": direction,
                  "is_active": is_active, "last_error": "", "last_error_at": None,
                  **({"remote_label": label[:200]} if label else {}),
                  **({"options": listed["options"]} if listed and "options" in listed else {})},
    )
    opportunity_mapping_reapply(connection=connection)
    return row


@transaction.atomic
def opportunity_field_mapping_remove(*, connection: GhlConnection, remote_key: str) -> FieldMapping:
    """Stop syncing one GHL opportunity custom field: its row is switched off (and stays off: the mirror's
    refresh never re-adds it). Values already here are kept."""
    row = _rows(connection).select_for_update().filter(remote_key=remote_key).first()
    if row is None:
        raise ValidationError({"remote_key": f"{remote_key} is not an opportunity field mapping of this connection."})
    row.is_active = False
    row.save(update_fields=["is_active", "updated_at"])
    return row


def opportunity_mapping_reapply(*, connection: GhlConnection) -> None:
    """After a mapping change: forget the deals' watermarks (or the pull would skip states it has applied) and
    queue a fresh opportunity pull after the commit, so every deal follows the new mapping."""
    from .tasks import opportunities_pull_task

    external_ids_forget_remote_state(organization=connection.organization, provider=PROVIDER,
                                     account_id=connection.location_id, model=Opportunity)
    if connection.is_active and connection.location_id:
        transaction.on_commit(lambda: opportunities_pull_task.delay(connection.pk))
