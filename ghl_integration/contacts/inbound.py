"""GHL contacts → `crm.sync` records: shared by the webhook handlers, the initial pull and reconciliation.

Two GHL quirks are absorbed here:

* Search results carry only lower-cased first/last names (REFERENCE.md §c) next to the properly cased
  `name`; the cased names are cut back out of `name` by the lower-cased lengths (`_restore_names`).
* The content hash is taken over the fields a Contact* webhook carries (`WEBHOOK_KEYS`, custom fields
  included), whatever the source, so a pulled contact, a webhook and the outbound push's stored hash
  compare equal when nothing changed (echo suppression and cheap "unchanged" pages).
"""
import datetime as dt
from typing import Any

from crm.sync.hashing import content_hash
from crm.sync.inbound import ApplyResult, RemoteRecord, contact_apply_remote
from crm.sync.mapping import Mapping

from ..models import GhlConnection
from ..timestamps import parse_ghl_time
from .mapping import PROVIDER, contact_mapping_for
from .shape import CUSTOM_PREFIX, flatten_ghl_contact

# The flat keys a Contact* webhook body carries (REFERENCE.md §h); the hash is taken over these only.
WEBHOOK_KEYS = frozenset({
    "firstName", "lastName", "email", "phone", "companyName", "address1", "city", "state", "postalCode",
    "country", "website", "dateOfBirth", "source", "tags", "dnd",
})


def _restore_names(contact: dict[str, Any]) -> dict[str, Any]:
    """A search item with `firstName`/`lastName` put back from `name` and the lower-cased names."""
    if "firstName" in contact or "lastName" in contact:
        return contact
    first_lc = contact.get("firstNameLowerCase") or ""
    last_lc = contact.get("lastNameLowerCase") or ""
    if not first_lc and not last_lc:
        return contact
    name = contact.get("name") or ""
    joined = " ".join(p for p in (first_lc, last_lc) if p)
    if name.lower() == joined:
        first = name[:len(first_lc)]
        last = name[len(name) - len(last_lc):] if last_lc else ""
    else:  # an edited display name: the lower-cased values are all we have
        first, last = first_lc, last_lc
    return {**contact, "firstName": first, "lastName": last}


def record_from_ghl(mapping: Mapping, contact: dict[str, Any], *, remote_updated_at: dt.datetime | None,
                    deleted: bool = False) -> RemoteRecord:
    """One GHL contact (API object, search item or webhook body) as a record for `crm.sync`."""
    flat = flatten_ghl_contact(_restore_names(contact))
    remote = mapping.to_local(flat)
    hashed_fields = _hashed_local_fields(mapping)
    hashed = {}
    for key in flat:
        local_field = hashed_fields.get(key)
        if local_field is not None and local_field in remote:
            hashed[local_field] = remote[local_field]
    return RemoteRecord(external_id=str(contact["id"]), remote=remote, remote_updated_at=remote_updated_at,
                        remote_hash=content_hash(hashed), deleted=deleted, refused=dict(mapping.errors))


def _hashed_local_fields(mapping: Mapping) -> dict[str, str]:
    """remote key → local field, for the mapped keys the content hash covers (`WEBHOOK_KEYS` and custom
    fields); worked out once per mapping, since a pull maps every contact with one."""
    hashed = mapping.derived.get("ghl_hashed_fields")
    if hashed is None:
        hashed = mapping.derived["ghl_hashed_fields"] = {
            key: spec.local_field for key, spec in mapping.by_remote.items()
            if key in WEBHOOK_KEYS or key.startswith(CUSTOM_PREFIX)
        }
    return hashed


def records_from_search_page(mapping: Mapping, contacts: list[dict[str, Any]]) -> list[RemoteRecord]:
    """A search page as records; GHL's `dateUpdated` is each record's watermark."""
    return [record_from_ghl(mapping, c, remote_updated_at=parse_ghl_time(c.get("dateUpdated")))
            for c in contacts if c.get("id")]


def contact_apply_ghl_event(*, connection: GhlConnection, payload: dict[str, Any],
                            delivered_at: dt.datetime | None, deleted: bool = False) -> ApplyResult:
    """Apply one Contact* webhook body. Its delivery `timestamp` is the watermark (no `dateUpdated` is sent)."""
    mapping = contact_mapping_for(connection)
    record = record_from_ghl(mapping, payload, remote_updated_at=delivered_at, deleted=deleted)
    if mapping.errors:
        name = " ".join(str(payload.get(k) or "") for k in ("firstName", "lastName")).strip() or payload.get("email")
        mapping.record_errors(subject=f"GHL contact {record.external_id}" + (f" ({name})" if name else ""))
    return contact_apply_remote(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        connection_id=connection.pk, external_id=record.external_id, remote=record.remote,
        remote_updated_at=record.remote_updated_at, remote_hash=record.remote_hash, deleted=record.deleted,
        defer_while_creating=True,  # our own create's ContactCreate can arrive before the push links it
        live=True,
    )
