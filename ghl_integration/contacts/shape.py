"""GHL's contact shape ↔ a flat dict of GHL field keys, the form the field mapping works on.

GHL reads and writes contacts asymmetrically (REFERENCE.md §c): custom fields are read as `{id, value}` but
written as `{id|key, field_value}`; DND is a top-level `dnd` plus per-channel `dndSettings`; `tags` on an
update replaces the whole list. Flattening gives every value one key (`dnd.SMS`, `customFields.<id>`) so
the mapping can treat standard and custom fields alike.

Only keys present in the input appear in the output: a webhook that omits `dndSettings` (ContactUpdate
does) says nothing about DND, which is not the same as "DND cleared". A `dndSettings` that is there but lacks
a channel (a read of a contact that never opted out: `{}`) says that channel is off, so the first sync has a
base for it and a later opt-out is a plain remote change, not a conflict.
"""
from typing import Any

# Flat GHL key -> ontology field, for the standard contact fields (the mapping's defaults).
STANDARD_CONTACT_FIELDS: dict[str, str] = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "companyName": "company_name",
    "address1": "address1",
    "city": "city",
    "state": "state",
    "postalCode": "postal_code",
    "country": "country",
    "website": "website",
    "timezone": "timezone",
    "dateOfBirth": "date_of_birth",
    "source": "source",
    "tags": "tags",
    "dnd": "dnd_all",
    "dnd.SMS": "dnd_sms",
    "dnd.Email": "dnd_email",
    "dnd.WhatsApp": "dnd_whatsapp",
    "dnd.Call": "dnd_call",
}
DND_CHANNELS = ("SMS", "Email", "WhatsApp", "Call", "GMB", "FB")
DND_ON = frozenset({"active", "permanent"})
CUSTOM_PREFIX = "customFields."
# GHL's update endpoint does not take these (REFERENCE.md §c: no locationId, gender, companyName on PUT).
NOT_UPDATABLE = frozenset({"companyName"})


def _date_only(value: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    return text[:10] if len(text) >= 10 and text[4] == "-" and text[7] == "-" else text


def flatten_ghl_contact(contact: dict[str, Any]) -> dict[str, Any]:
    """A GHL contact (API object or webhook body) as flat GHL keys; only keys the input carries."""
    flat: dict[str, Any] = {}
    for key in STANDARD_CONTACT_FIELDS:
        if "." not in key and key in contact:
            flat[key] = contact[key]
    if "email" in flat:
        flat["email"] = (flat["email"] or "").strip().lower()
    if "dateOfBirth" in flat:
        flat["dateOfBirth"] = _date_only(flat["dateOfBirth"])
    if "tags" in flat:
        flat["tags"] = [t for t in (flat["tags"] or []) if isinstance(t, str)]
    for key in ("firstName", "lastName", "phone", "companyName", "address1", "city", "state", "postalCode",
                "country", "website", "timezone", "source"):
        if key in flat and flat[key] is None:
            flat[key] = ""
    settings = contact.get("dndSettings")
    if isinstance(settings, dict):
        for channel in DND_CHANNELS:
            entry = settings.get(channel)
            if entry is None:  # the contact's settings, without this channel: it was never turned on
                flat[f"dnd.{channel}"] = False
            elif isinstance(entry, dict) and "status" in entry:
                flat[f"dnd.{channel}"] = entry.get("status") in DND_ON
    for field in contact.get("customFields") or []:
        if isinstance(field, dict) and field.get("id"):
            # Reads carry `value`; tolerate `field_value` too, since the sandbox or a webhook may echo writes.
            flat[f"{CUSTOM_PREFIX}{field['id']}"] = field.get("value", field.get("field_value"))
    return flat


def ghl_contact_payload(flat: dict[str, Any], *, for_update: bool) -> dict[str, Any]:
    """The JSON body for GHL's create/upsert (`for_update=False`) or update (`True`) from flat keys."""
    body: dict[str, Any] = {}
    dnd_settings: dict[str, dict[str, str]] = {}
    custom_fields: list[dict[str, Any]] = []
    for key, value in flat.items():
        if key.startswith(CUSTOM_PREFIX):
            field_ref = key[len(CUSTOM_PREFIX):]
            # Written as {id|key, field_value}; a reference without GHL's id shape is a field key.
            ref_key = "key" if "." in field_ref or field_ref.islower() and "_" in field_ref else "id"
            custom_fields.append({ref_key: field_ref, "field_value": value})
        elif key.startswith("dnd."):
            dnd_settings[key[4:]] = {"status": "active" if value else "inactive"}
        elif key == "tags" and for_update:
            continue  # PUT replaces every tag: tag changes go through the add/remove endpoints instead
        elif for_update and key in NOT_UPDATABLE:
            continue
        elif key == "dateOfBirth":
            body[key] = str(value) if value else None
        else:
            body[key] = value
    if dnd_settings:
        body["dndSettings"] = dnd_settings
    if custom_fields:
        body["customFields"] = custom_fields
    return body
