"""Contacts (`Version: 2021-07-28`, REFERENCE.md §c): CRUD, upsert, search, duplicate lookup, tags.

The `contact_*` functions are the sandbox's services: the API handlers and the control API ("as a person in
GHL") both call them, so both emit the same webhooks.
"""
import json
import re

from .. import constants as c
from ..app import JsonText, route
from ..auth import public
from ..errors import bad_request, iso, new_id, now_ms, parse_iso_ms, unprocessable
from ..store import find_by_field
from . import search

V = c.VERSION_2021_07_28
WRITABLE = ("firstName", "lastName", "name", "email", "gender", "phone", "address1", "city", "state", "postalCode",
            "website", "timezone", "dnd", "dndSettings", "inboundDndSettings", "tags", "source", "dateOfBirth",
            "country", "companyName", "assignedTo")
WEBHOOK_FIELDS = ("locationId", "id", "address1", "city", "state", "companyName", "country", "source", "dateAdded",
                  "dateOfBirth", "dnd", "email", "name", "firstName", "lastName", "phone", "postalCode", "tags",
                  "website", "attachments", "assignedTo", "customFields")
SORT_FIELDS = ("firstNameLowerCase", "lastNameLowerCase", "businessName", "dateAdded", "dateUpdated", "email", "dnd",
               "source")
FIELD_ALIASES = {"contactName": "name", "businessName": "companyName", "address": "address1"}
DEFAULT_SORT = [{"field": "dateAdded", "direction": "asc"}]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# -- custom fields ---------------------------------------------------------------------------------------
def resolve_custom_fields(store, location_id: str, items, model: str = "contact") -> dict:
    """Write form `[{id|key, field_value}]` -> {fieldId: value}; unknown ids/keys are a 400."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise unprocessable("customFields must be an array")
    fields = [f for f in store.list("customField", location_id) if f.get("model") == model]
    by_id = {f["id"]: f for f in fields}
    by_key = {}
    for f in fields:
        by_key[f["fieldKey"]] = f
        by_key[f["fieldKey"].split(".", 1)[-1]] = f
    out = {}
    for item in items:
        if not isinstance(item, dict):
            raise unprocessable("customFields must contain objects")
        field = by_id.get(item.get("id")) or by_key.get(item.get("key"))
        if field is None:
            raise bad_request(f"Custom field {item.get('id') or item.get('key')} not found")
        out[field["id"]] = item.get("field_value", item.get("value"))
    return out


def _merge_custom_fields(current: list, updates: dict) -> list:
    values = {cf["id"]: cf["value"] for cf in current}
    values.update(updates)
    return [{"id": k, "value": v} for k, v in values.items() if v not in (None, "")]


# -- services --------------------------------------------------------------------------------------------
def _normalise(data: dict) -> dict:
    out = {k: data[k] for k in WRITABLE if k in data}
    if "dateOfBirth" in out and out["dateOfBirth"]:
        raw = str(out["dateOfBirth"]).replace("/", "-").replace(".", "-").replace("_", "-")
        parts = raw[:10].split("-")
        if len(parts) == 3 and len(parts[0]) == 2:  # MM-DD-YYYY
            parts = [parts[2], parts[0], parts[1]]
        out["dateOfBirth"] = "-".join(parts) + "T00:00:00.000Z"
    if "tags" in out:
        if not isinstance(out["tags"], list):
            raise unprocessable("tags must be an array")
        out["tags"] = list(dict.fromkeys(str(t).strip().lower() for t in out["tags"] if str(t).strip()))
    if out.get("email"):
        out["email"] = str(out["email"]).strip()
        if not EMAIL_RE.match(out["email"]):
            raise unprocessable("email must be an email")
    if out.get("phone"):
        out["phone"] = normalise_phone(out["phone"])
    return out


def normalise_phone(raw) -> str:
    """GHL stores phones in E.164; numbers without a country code are taken as US/CA (+1) here."""
    text = str(raw).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return "+" + digits if digits else text


def _derive(doc: dict) -> dict:
    first, last = doc.get("firstName") or "", doc.get("lastName") or ""
    if first or last:
        doc["name"] = (first + " " + last).strip()
    doc["firstNameLowerCase"] = first.lower() or None
    doc["lastNameLowerCase"] = last.lower() or None
    doc["fullNameLowerCase"] = (doc.get("name") or "").lower() or None
    doc["emailLowerCase"] = (doc.get("email") or "").lower() or None
    return doc


def new_contact_doc(location_id: str, data: dict, custom: dict, *, added_ms: int | None = None) -> dict:
    added_ms = added_ms or now_ms()
    doc = {
        "id": new_id(), "locationId": location_id, "name": None, "firstName": None, "lastName": None,
        "email": None, "phone": None, "companyName": None, "address1": None, "city": None, "state": None,
        "postalCode": None, "country": None, "website": None, "timezone": None, "dnd": False, "dndSettings": {},
        "type": "lead", "source": None, "assignedTo": None, "tags": [], "dateOfBirth": None,
        "dateAdded": iso(added_ms), "dateUpdated": iso(added_ms), "attachments": [], "businessId": None,
        "customFields": _merge_custom_fields([], custom),
    }
    doc.update(data)
    return _derive(doc)


def find_duplicate(store, location_id: str, email: str | None, phone: str | None) -> tuple[dict | None, str | None]:
    if email:
        hits = find_by_field(store, "contact", location_id, "emailLowerCase", email.lower())
        if hits:
            return hits[0], "email"
    if phone:
        hits = find_by_field(store, "contact", location_id, "phone", phone)
        if hits:
            return hits[0], "phone"
    return None, None


def webhook_fields(doc: dict, *, dnd: bool = False) -> dict:
    out = {k: doc.get(k) for k in WEBHOOK_FIELDS}
    if dnd:
        out["dndSettings"] = doc.get("dndSettings") or {}
    return out


def save(store, doc: dict) -> dict:
    return store.put("contact", doc, location_id=doc["locationId"], sort_ms=parse_iso_ms(doc["dateAdded"]))


def contact_create(sandbox, location_id: str, data: dict, *, check_duplicates: bool = True) -> dict:
    store = sandbox.store
    clean = _normalise(data)
    custom = resolve_custom_fields(store, location_id, data.get("customFields"))
    location = store.get("location", location_id)
    if check_duplicates and not location["settings"].get("allowDuplicateContact", False):
        dup, field = find_duplicate(store, location_id, clean.get("email"), clean.get("phone"))
        if dup:
            raise bad_request("This location does not allow duplicated contacts.",
                              meta={"contactId": dup["id"], "contactName": dup.get("name"), "matchingField": field})
    doc = save(store, new_contact_doc(location_id, clean, custom))
    sandbox.dispatcher.emit("ContactCreate", location_id, webhook_fields(doc))
    return doc


def contact_update(sandbox, doc: dict, data: dict) -> dict:
    clean = _normalise(data)
    custom = resolve_custom_fields(sandbox.store, doc["locationId"], data.get("customFields"))
    before = dict(doc)
    doc.update(clean)
    if custom:
        doc["customFields"] = _merge_custom_fields(doc.get("customFields", []), custom)
    _derive(doc)
    if "name" in clean and not ("firstName" in clean or "lastName" in clean):
        doc["name"] = clean["name"]
    doc["dateUpdated"] = iso()
    save(sandbox.store, doc)
    _emit_changes(sandbox, before, doc)
    return doc


def _emit_changes(sandbox, before: dict, doc: dict) -> None:
    generic = sandbox.config["webhooks"]["emit_generic_update"]
    tags_changed = before.get("tags") != doc.get("tags")
    dnd_changed = before.get("dnd") != doc.get("dnd") or before.get("dndSettings") != doc.get("dndSettings")
    ignore = {"dateUpdated", "tags", "dnd", "dndSettings"}
    other_changed = any(before.get(k) != doc.get(k) for k in doc if k not in ignore)
    loc = doc["locationId"]
    if other_changed or (generic and (tags_changed or dnd_changed)):
        sandbox.dispatcher.emit("ContactUpdate", loc, webhook_fields(doc))
    if tags_changed:
        sandbox.dispatcher.emit("ContactTagUpdate", loc, webhook_fields(doc))
    if dnd_changed:
        sandbox.dispatcher.emit("ContactDndUpdate", loc, webhook_fields(doc, dnd=True))


def contact_delete(sandbox, doc: dict) -> None:
    sandbox.store.delete("contact", doc["id"])
    sandbox.dispatcher.emit("ContactDelete", doc["locationId"], webhook_fields(doc))


def contact_tags(sandbox, doc: dict, tags: list, *, add: bool) -> dict:
    tags = [str(t).strip().lower() for t in tags if str(t).strip()]
    current = list(doc.get("tags") or [])
    new = list(dict.fromkeys(current + tags)) if add else [t for t in current if t not in set(tags)]
    if new != current:
        before = dict(doc)
        doc["tags"] = new
        doc["dateUpdated"] = iso()
        save(sandbox.store, doc)
        _emit_changes(sandbox, before, doc)
    return doc


def contact_upsert(sandbox, location_id: str, data: dict) -> tuple[bool, dict]:
    location = sandbox.store.get("location", location_id)
    allow_dup = location["settings"].get("allowDuplicateContact", False)
    if not (allow_dup and data.get("createNewIfDuplicateAllowed")):
        email, phone = data.get("email"), data.get("phone")
        phone = normalise_phone(phone) if phone else None
        dup, field = find_duplicate(sandbox.store, location_id, email.strip() if email else None, phone)
        if dup:
            changes = {k: v for k, v in data.items() if k != "locationId"}
            if field == "email" and phone and phone != dup.get("phone"):
                # REFERENCE §c: an email match and a phone match on different contacts → the first-priority
                # (email) contact is updated and the other field is silently ignored.
                holders = find_by_field(sandbox.store, "contact", location_id, "phone", phone)
                if any(h["id"] != dup["id"] for h in holders):
                    changes.pop("phone", None)
            return False, contact_update(sandbox, dup, changes)
    return True, contact_create(sandbox, location_id, data, check_duplicates=False)


# -- handlers --------------------------------------------------------------------------------------------
def _out(doc: dict) -> dict:
    return public(doc)


def get_contact(ctx):
    return 200, {"contact": _out(ctx.load("contact", ctx.params["contactId"], "Contact"))}


def create_contact(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    return 201, {"contact": _out(contact_create(ctx.sandbox, location_id, body))}


def update_contact(ctx):
    body = ctx.json()
    if "locationId" in body:
        raise unprocessable("property locationId should not exist")
    doc = ctx.load("contact", ctx.params["contactId"], "Contact")
    return 200, {"succeded": True, "contact": _out(contact_update(ctx.sandbox, doc, body))}


def delete_contact(ctx):
    contact_delete(ctx.sandbox, ctx.load("contact", ctx.params["contactId"], "Contact"))
    return 200, {"succeded": True}


def upsert_contact(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    new, doc = contact_upsert(ctx.sandbox, location_id, body)
    return 200, {"new": new, "contact": _out(doc)}


def add_tags(ctx):
    tags = ctx.json().get("tags")
    if not isinstance(tags, list) or not tags:
        raise unprocessable("tags must be an array", "tags should not be empty")
    doc = contact_tags(ctx.sandbox, ctx.load("contact", ctx.params["contactId"], "Contact"), tags, add=True)
    return 201, {"tags": doc["tags"]}


def remove_tags(ctx):
    tags = ctx.json().get("tags")
    if not isinstance(tags, list):
        raise unprocessable("tags must be an array")
    doc = contact_tags(ctx.sandbox, ctx.load("contact", ctx.params["contactId"], "Contact"), tags, add=False)
    return 200, {"tags": doc["tags"]}


def _field_value(doc: dict, field: str):
    if field.startswith("customFields."):
        parts = field.split(".")
        for cf in doc.get("customFields", []):
            if cf["id"] == parts[1]:
                return cf["value"]
        return None
    if field == "dateAdded" or field == "dateUpdated":
        return parse_iso_ms(doc[field]) if doc.get(field) else None
    return doc.get(FIELD_ALIASES.get(field, field))


def _search_item(doc: dict) -> dict:
    # Search results carry only the lower-cased first/last names (REFERENCE.md §c).
    out = _out(doc)
    out.pop("firstName", None)
    out.pop("lastName", None)
    out["businessName"] = doc.get("companyName")
    return out


def search_contacts(ctx):
    body = ctx.json()
    location_id = ctx.check_location(body.get("locationId"))
    filters, query, sort = body.get("filters") or [], body.get("query"), body.get("sort")
    if query and len(str(query)) > 75:
        raise unprocessable("query must be shorter than or equal to 75 characters")
    by_date_added = not query and (not sort or (len(sort) == 1 and sort[0].get("field") == "dateAdded"))
    bounds = _date_added_bounds(filters) if by_date_added and isinstance(filters, list) else None
    if bounds is not None:
        return 200, _fast_search(ctx, location_id, body, bounds)
    docs = ctx.store.list("contact", location_id)
    if query:
        q = str(query).lower()
        docs = [d for d in docs if any(q in str(d.get(f) or "").lower()
                                       for f in ("name", "email", "phone", "companyName"))]
    docs = [d for d in docs if all(search.match(d, f, _field_value) for f in filters)]
    items, total = search.sort_and_page(docs, body, sort_value=_field_value, default_sort=DEFAULT_SORT,
                                        limit_key="pageLimit", allowed_sort=SORT_FIELDS)
    return 200, {"contacts": [{**_search_item(d), "searchAfter": d["searchAfter"]} for d in items], "total": total}


def search_item_json(sort_ms: int, doc: dict) -> str:
    return json.dumps({**_search_item(doc), "searchAfter": [sort_ms, doc["id"]]})


RANGE_BOUNDS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}


def _date_added_bounds(filters: list) -> list[tuple[str, int]] | None:
    """The SQL bounds of filters that are all top-level `dateAdded` ranges (what a sliced pull sends), or None
    when any filter is something else (the general path evaluates those). Dates are ISO 8601 or epoch ms, as
    the general path reads them; one that is neither is a 422 rather than a filter that matches nothing."""
    bounds: list[tuple[str, int]] = []
    for flt in filters:
        if not isinstance(flt, dict) or flt.get("field") != "dateAdded" or flt.get("operator") != "range" \
                or "group" in flt:
            return None
        value = flt.get("value")
        if not isinstance(value, dict) or not any(k in RANGE_BOUNDS for k in value):
            raise unprocessable("filters: range needs an object value with gte/gt/lte/lt")
        for key, operator in RANGE_BOUNDS.items():
            if key not in value:
                continue
            try:
                bounds.append((operator, parse_iso_ms(value[key])))
            except (ValueError, TypeError):
                message = f"filters: dateAdded {key} must be an ISO 8601 date or epoch milliseconds"
                raise unprocessable(message) from None
    return bounds


def _fast_search(ctx, location_id: str, body: dict, bounds: list[tuple[str, int]]) -> dict:
    """Search sorted by dateAdded, unfiltered or by dateAdded ranges, paged in SQL so 30,000-contact locations
    stay fast; `total` counts what the filters match, as GHL's does."""
    limit = body.get("pageLimit")
    if limit is None:
        raise unprocessable("pageLimit must be a number")
    limit = int(limit)
    if not 1 <= limit <= 500:
        raise unprocessable("pageLimit must not be greater than 500 and not less than 1")
    descending = bool(body.get("sort")) and str(body["sort"][0].get("direction", "asc")).lower() == "desc"
    after = body.get("searchAfter")
    if after is not None and body.get("page") is not None:
        raise bad_request("page must be omitted when searchAfter is used")
    if after is not None:
        if not isinstance(after, list) or len(after) != 2:
            raise bad_request("searchAfter must be the searchAfter array of the last item of the previous page")
        rows = ctx.store.page_rows("contact", location_id, limit=limit, after=(int(after[0]), str(after[1])),
                                   descending=descending, bounds=bounds)
    else:
        page = int(body.get("page") or 1)
        if page < 1:
            raise unprocessable("page must not be less than 1")
        if page * limit > search.PAGE_CAP:
            raise bad_request(f"Page-based access is limited to {search.PAGE_CAP} records; use searchAfter")
        rows = ctx.store.page_rows("contact", location_id, limit=limit, offset=(page - 1) * limit,
                                   descending=descending, bounds=bounds)
    # Decoding, filtering and re-encoding 100 stored contacts was most of a page's cost; each item's JSON is
    # made when the contact is written and kept while its stored row is unchanged.
    items = ctx.store.row_cache("contact", search_item_json)
    contacts = JsonText("[" + ", ".join(items.get(*row) for row in rows) + "]")
    total = ctx.store.count_between("contact", location_id, bounds) if bounds \
        else ctx.store.count("contact", location_id)
    return {"contacts": contacts, "total": total}


def search_duplicate(ctx):
    q = ctx.query
    location_id = ctx.check_location(q.get("locationId"))
    number = normalise_phone(q["number"]) if q.get("number") else None
    dup, _ = find_duplicate(ctx.store, location_id, q.get("email"), number)
    return 200, {"contact": _out(dup) if dup else None}


ROUTES = [
    route("POST", "/contacts/search", search_contacts, scope="contacts.readonly", version=V),
    route("GET", "/contacts/search/duplicate", search_duplicate, scope="contacts.readonly", version=V),
    route("POST", "/contacts/upsert", upsert_contact, scope="contacts.write", version=V),
    route("POST", "/contacts/", create_contact, scope="contacts.write", version=V),
    route("POST", "/contacts/{contactId}/tags", add_tags, scope="contacts.write", version=V),
    route("DELETE", "/contacts/{contactId}/tags", remove_tags, scope="contacts.write", version=V),
    route("GET", "/contacts/{contactId}", get_contact, scope="contacts.readonly", version=V),
    route("PUT", "/contacts/{contactId}", update_contact, scope="contacts.write", version=V),
    route("DELETE", "/contacts/{contactId}", delete_contact, scope="contacts.write", version=V),
]
