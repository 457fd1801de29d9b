"""Read what the inbox needs from a parsed body: event type, ids, GHL's delivery timestamp, dedup key.

Total functions: any JSON object gives an answer, whatever its field types. Quirks (REFERENCE.md §h):
* `INSTALL`/`UNINSTALL`/`PLAN_CHANGE` and `ConversationUnreadUpdate` are kept as GHL spells them;
* ProviderOutboundMessage carries the channel (`SMS`, `Email`) in `type`;
* Invoice*, Product*, Price*, Association*, Relation*, Record*, ObjectSchema* carry no `type` (Price* carries
  the *price* type): they are recognised by shape as `InvoiceEvent`, `PriceEvent`, … (the body does not say
  which action it was);
* anything else without a usable `type` is `unknown`.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from ..timestamps import parse_ghl_time

UNKNOWN_EVENT = "unknown"
MAX_EVENT_TYPE_LENGTH = 64
MAX_ID_LENGTH = 64
MAX_WEBHOOK_ID_LENGTH = 255
# Longest webhook id used verbatim in the dedup key; longer ones are hashed.
MAX_DEDUP_ID_LENGTH = 160

PROVIDER_CHANNELS = frozenset({"SMS", "Email", "WhatsApp", "GMB", "FB", "IG", "Custom", "Call", "Live_Chat"})
# (event name, keys that must all be present), checked in order, for bodies whose `type` is not an event.
SHAPES = (
    ("InvoiceEvent", ("_id", "invoiceNumber", "altType")),
    ("PriceEvent", ("_id", "product", "currency")),
    ("ProductEvent", ("_id", "productType")),
    ("AssociationEvent", ("associationType", "firstObjectKey", "secondObjectKey")),
    ("RelationEvent", ("firstRecordId", "secondRecordId")),
    ("ObjectSchemaEvent", ("labels", "primaryDisplayProperty")),
    ("RecordEvent", ("properties", "owners", "followers")),
)
# Values of `type` that are not event names.
NON_EVENT_TYPES = frozenset({"one_time", "recurring"})


@dataclass(frozen=True)
class EventMeta:
    event_type: str
    webhook_id: str
    location_id: str
    company_id: str
    delivered_at: datetime | None
    dedup_key: str


def clean_text(value: str, limit: int) -> str:
    """Text safe for any database column: no NUL (PostgreSQL refuses it), no lone surrogates, bounded."""
    return value[: limit * 2].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:limit]


def _short_str(value, limit: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return clean_text(str(value), limit)


def event_type_of(payload: dict) -> str:
    raw = payload.get("type")
    if isinstance(raw, str) and raw in PROVIDER_CHANNELS and "messageId" in payload:
        return "ProviderOutboundMessage"
    if isinstance(raw, str) and raw.strip() and raw not in NON_EVENT_TYPES:
        return clean_text(raw, MAX_EVENT_TYPE_LENGTH) or UNKNOWN_EVENT
    for name, keys in SHAPES:
        if all(key in payload for key in keys):
            return name
    return UNKNOWN_EVENT


def location_id_of(payload: dict, event_type: str) -> str:
    location_id = _short_str(payload.get("locationId"), MAX_ID_LENGTH)
    if location_id:
        return location_id
    if payload.get("altType") == "location":  # invoices and orders
        return _short_str(payload.get("altId"), MAX_ID_LENGTH)
    if event_type in ("LocationCreate", "LocationUpdate"):
        return _short_str(payload.get("id"), MAX_ID_LENGTH)
    return ""


def dedup_key_of(webhook_id: str, payload: dict) -> str:
    """`id:<webhookId>`; without an id, a hash of the content (key order and whitespace do not matter)."""
    if webhook_id:
        if len(webhook_id) <= MAX_DEDUP_ID_LENGTH:
            return f"id:{webhook_id}"
        return "idh:" + hashlib.sha256(webhook_id.encode()).hexdigest()
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def event_meta_of(payload: dict) -> EventMeta:
    event_type = event_type_of(payload)
    webhook_id = _short_str(payload.get("webhookId"), MAX_WEBHOOK_ID_LENGTH)
    return EventMeta(
        event_type=event_type,
        webhook_id=webhook_id,
        location_id=location_id_of(payload, event_type),
        company_id=_short_str(payload.get("companyId"), MAX_ID_LENGTH),
        delivered_at=parse_ghl_time(payload.get("timestamp")),  # ISO 8601 (documented), or epoch s/ms
        dedup_key=dedup_key_of(webhook_id, payload),
    )
