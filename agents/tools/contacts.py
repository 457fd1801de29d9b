"""The contact tools: find_contact, get_contact_context, create_contact, update_contact, add_tags, remove_tags.

Reads come from the local mirror (milliseconds, no GHL budget) and say `synced_at`; writes go through the crm
services (which record the outbox entry) and then wait for GHL to confirm (`confirm.py`).
"""
import logging
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.contact_remote_lookup import contact_remote_find
from crm.models import Contact, ExternalIdentity, Message
from crm.remote_calls import RemoteUnavailable
from crm.selectors.contacts import contact_find_by_email_or_phone
from crm.services.contacts import contact_create, contact_tags_add, contact_tags_remove, contact_update

from .confirm import push_wait, write_targets_require
from .dispatch import ToolContext
from .errors import ToolError
from .registry import Tool, registry
from .resolve import Match, contact_resolve, contact_search

logger = logging.getLogger(__name__)

GHL = "ghl"
CONTACT_REF = {
    "type": "string", "minLength": 1, "maxLength": 320,
    "description": "Who: a name (fuzzy: accents, case, nicknames, typos), an email, a phone in any format, "
                   "a contact_id or a GHL contact id.",
}
TAGS = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 100}, "minItems": 1,
        "maxItems": 50, "description": "Tag names, e.g. [\"vip\", \"newsletter\"]."}
EDITABLE = {
    "first_name": {"type": "string", "maxLength": 150},
    "last_name": {"type": "string", "maxLength": 150},
    "name": {"type": "string", "maxLength": 301, "description": "Full name; split into first and last name."},
    "email": {"type": "string", "maxLength": 254},
    "phone": {"type": "string", "maxLength": 40, "description": "Any format; stored as E.164."},
    "company_name": {"type": "string", "maxLength": 200},
    "address1": {"type": "string", "maxLength": 255},
    "city": {"type": "string", "maxLength": 120},
    "state": {"type": "string", "maxLength": 120},
    "postal_code": {"type": "string", "maxLength": 20},
    "country": {"type": "string", "maxLength": 2, "description": "ISO 3166-1 alpha-2, e.g. US."},
    "website": {"type": "string", "maxLength": 255},
    "timezone": {"type": "string", "maxLength": 64},
    "date_of_birth": {"type": ["string", "null"], "description": "YYYY-MM-DD."},
    "source": {"type": "string", "maxLength": 200},
    "dnd_all": {"type": "boolean", "description": "Do not disturb on every channel."},
    "dnd_sms": {"type": "boolean"}, "dnd_email": {"type": "boolean"},
    "dnd_whatsapp": {"type": "boolean"}, "dnd_call": {"type": "boolean"},
    "custom_fields": {"type": "object", "description": "Custom field values by key; null removes a value."},
}
CONTACT_OUT = {
    "type": "object",
    "properties": {
        "contact_id": {"type": "integer"}, "ghl_contact_id": {"type": ["string", "null"]},
        "name": {"type": "string"}, "email": {"type": "string"}, "phone": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "synced_at": {"type": ["string", "null"], "description": "When the mirror last agreed with GHL."},
    },
    "required": ["contact_id", "ghl_contact_id", "name", "email", "phone", "tags"],
}
WRITE_OUT = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["confirmed", "queued", "rejected", "unchanged", "existing", "dry_run"],
                   "description": "confirmed: GHL has it; queued: saved here, GHL gets it shortly; rejected: GHL "
                                  "refused it (see ghl_error); existing: the person was already there."},
        "contact": CONTACT_OUT,
        "changes": {"type": "object", "description": "field -> {from, to}: what changed (or would)."},
        "ghl_error": {"type": "string"},
        "resolved": {"type": "object"},
    },
    "required": ["status"],
}


# -- shaping ---------------------------------------------------------------------------------------------------
def _links(organization, contacts: list[Contact]) -> dict[int, ExternalIdentity]:
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(Contact)
    rows = ExternalIdentity.objects.for_org(organization).filter(
        provider=GHL, content_type=ct, object_id__in=[c.pk for c in contacts])
    return {row.object_id: row for row in rows}


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def contact_out(contact: Contact, link: ExternalIdentity | None) -> dict[str, Any]:
    return {"contact_id": contact.pk, "ghl_contact_id": link.external_id if link else None,
            "name": contact.full_name, "email": contact.email, "phone": contact.phone, "tags": list(contact.tags),
            "synced_at": _iso(link.last_synced_at) if link else None}


def _one_out(ctx: ToolContext, contact: Contact) -> dict[str, Any]:
    return contact_out(contact, _links(ctx.organization, [contact]).get(contact.pk))


def _resolved(match: Match, query: str) -> dict[str, Any]:
    return {"query": query, "matched_by": match.matched_by, "score": match.score, "contact_id": match.contact.pk,
            "name": match.contact.full_name}


def _invalid_from(exc: ValidationError, prefix: str = "") -> ToolError:
    field, messages = next(iter(exc.message_dict.items())) if hasattr(exc, "error_dict") else ("", exc.messages)
    field = {"custom_properties": "custom_fields", "full_name": "name"}.get(field, field)
    if field.startswith("custom_properties."):  # one custom field refused by its type or allowed values
        field = f"custom_fields.{field.removeprefix('custom_properties.')}"
    name = f"{prefix}{field}" if field else prefix.rstrip(".") or None
    return ToolError("invalid", f"`{name}`: {' '.join(messages)}" if name else " ".join(messages), field=name,
                     hint=f"Correct `{name}` and call again." if name else None)


def _local_fields(contact: Contact | None, fields: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Tool field names -> crm field names (name split, custom_fields merged, dates parsed)."""
    out = {k: v for k, v in fields.items() if k not in ("name", "custom_fields", "date_of_birth")}
    if fields.get("name"):
        parts = " ".join(fields["name"].split()).split(" ", 1)
        out.setdefault("first_name", parts[0])
        out.setdefault("last_name", parts[1] if len(parts) > 1 else "")
    if "date_of_birth" in fields:
        raw = fields["date_of_birth"]
        try:
            out["date_of_birth"] = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise ToolError("invalid", f"`{prefix}date_of_birth`: “{raw}” is not a date.",
                            field=f"{prefix}date_of_birth", hint="Write it as YYYY-MM-DD, e.g. 1990-04-30.")
    if "custom_fields" in fields:
        merged = dict(contact.custom_properties if contact else {})
        for key, value in (fields["custom_fields"] or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        out["custom_properties"] = merged
    return out


def _changes(contact: Contact | None, cleaned: dict[str, Any]) -> dict[str, dict[str, Any]]:
    changes = {}
    for name, value in cleaned.items():
        before = getattr(contact, name) if contact else None
        if before != value:
            changes[{"custom_properties": "custom_fields"}.get(name, name)] = {
                "from": before.isoformat() if isinstance(before, date) else before,
                "to": value.isoformat() if isinstance(value, date) else value}
    return changes


def _after_write(ctx: ToolContext, contact: Contact, since, result: dict[str, Any]) -> dict[str, Any]:
    push = push_wait(obj=contact, since=since)
    contact.refresh_from_db()
    result = {**result, "status": push.status, "contact": _one_out(ctx, contact)}
    if push.error:
        result["ghl_error"] = push.error
    ctx.outcome = push.status
    ctx.ghl_refs.extend(push.remote_ids.values())
    return result


# -- reads -------------------------------------------------------------------------------------------------------
def find_contact(ctx: ToolContext, *, query: str, limit: int = 5) -> dict[str, Any]:
    matches = contact_search(organization=ctx.organization, query=query, limit=limit)
    links = _links(ctx.organization, [m.contact for m in matches])
    out = [{**contact_out(m.contact, links.get(m.contact.pk)), "score": m.score, "matched_by": m.matched_by}
           for m in matches]
    return {"matches": out, "count": len(out)}


def get_contact_context(ctx: ToolContext, *, contact: str) -> dict[str, Any]:
    match = contact_resolve(organization=ctx.organization, ref=contact)
    person = match.contact
    ctx.concerns(person)
    org = ctx.organization
    from .calendar import upcoming_appointments
    from .opportunities import contact_open_opportunities

    messages = (Message.objects.for_org(org).filter(conversation__contact=person)
                .order_by("-created_at", "-id")[:10])
    return {
        "contact": {
            **_one_out(ctx, person),
            "first_name": person.first_name, "last_name": person.last_name, "company_name": person.company_name,
            "address1": person.address1, "city": person.city, "state": person.state,
            "postal_code": person.postal_code, "country": person.country, "website": person.website,
            "timezone": person.timezone, "date_of_birth": _iso(person.date_of_birth), "source": person.source,
            "additional_emails": person.additional_emails, "additional_phones": person.additional_phones,
            "custom_fields": person.custom_properties,
            "dnd": {"all": person.dnd_all, **{ch: getattr(person, f"dnd_{ch}") for ch in Contact.DND_CHANNELS}},
            "created_at": _iso(person.created_at), "updated_at": _iso(person.updated_at),
        },
        "opportunities": contact_open_opportunities(org, person),
        "upcoming_appointments": upcoming_appointments(org, person),
        "last_messages": [{"message_id": m.pk, "channel": m.channel, "direction": m.direction, "body": m.body[:500],
                           "status": m.status, "at": _iso(m.sent_at or m.created_at), "kind": m.kind,
                           "subject": m.subject, "sender": m.sender_type or None} for m in messages],
        "resolved": _resolved(match, contact),
    }


# -- writes ------------------------------------------------------------------------------------------------------
def create_contact(ctx: ToolContext, **fields: Any) -> dict[str, Any]:
    tags = fields.pop("tags", None)
    if not any(fields.get(k) for k in ("first_name", "last_name", "name", "email", "phone")):
        raise ToolError("invalid", "A contact needs at least a name, an email or a phone.", field="name",
                        hint="Add `name` (or first_name/last_name), `email` or `phone`.")
    local = _local_fields(None, fields, "")
    if tags:
        local["tags"] = tags
    try:
        from crm.services.contacts import contact_clean_local_edit

        cleaned = contact_clean_local_edit(organization=ctx.organization, data=local)
    except ValidationError as exc:
        raise _invalid_from(exc)
    email, phone = cleaned.get("email", ""), cleaned.get("phone", "")
    existing = contact_find_by_email_or_phone(organization=ctx.organization, email=email, phone=phone)
    if existing is not None:
        return _existing(ctx, existing, email, found_in="mirror")
    write_targets_require(organization=ctx.organization)
    changes = _changes(None, {k: v for k, v in cleaned.items() if v not in ("", None, [], {})})
    if ctx.dry_run:
        # A dry run sends nothing to GHL, so GHL's own duplicate check happens on the real call only.
        ctx.outcome = "dry_run"
        return {"status": "dry_run", "would": "create", "existing": False, "changes": changes,
                "note": "Checked against the local mirror; the real call also asks GoHighLevel for an existing "
                        "person with this email or phone and returns them instead of creating a duplicate."}
    try:
        existing = contact_remote_find(organization=ctx.organization, email=email, phone=phone)
    except RemoteUnavailable as exc:
        # Not fatal: GHL refuses a duplicate create and the push then links to the person GHL has.
        logger.info("agents.create_contact.remote-lookup-skipped",
                    extra={"organization_id": ctx.organization.pk, "error": type(exc).__name__})
        existing = None
    if existing is not None:
        return _existing(ctx, existing, email, found_in="ghl")
    since = timezone.now()
    try:
        contact = contact_create(organization=ctx.organization, **local)
    except ValidationError as exc:
        raise _invalid_from(exc)
    ctx.concerns(contact)
    return _after_write(ctx, contact, since, {"existing": False, "changes": changes})


def _existing(ctx: ToolContext, person: Contact, email: str, *, found_in: str) -> dict[str, Any]:
    ctx.outcome = "existing"
    ctx.concerns(person)
    link = _links(ctx.organization, [person]).get(person.pk)
    if link is not None:
        ctx.ghl_refs.append(link.external_id)
    return {"status": "existing", "existing": True, "contact": contact_out(person, link), "found_in": found_in,
            "matched_by": "email" if email and person.email == email else "phone"}


def update_contact(ctx: ToolContext, *, contact: str, fields: dict[str, Any]) -> dict[str, Any]:
    match = contact_resolve(organization=ctx.organization, ref=contact)
    person = match.contact
    ctx.concerns(person)
    local = _local_fields(person, fields, "fields.")
    try:
        from crm.services.contacts import contact_clean_local_edit

        cleaned = contact_clean_local_edit(organization=ctx.organization, data=local, contact=person)
    except ValidationError as exc:
        raise _invalid_from(exc, "fields.")
    changes = _changes(person, cleaned)
    return _write_changes(ctx, person, match, contact, changes,
                          lambda: contact_update(contact=person, **{k: cleaned[k] for k in cleaned
                                                                   if getattr(person, k) != cleaned[k]}))


def _write_changes(ctx: ToolContext, person: Contact, match: Match, query: str, changes: dict, do) -> dict[str, Any]:
    resolved = _resolved(match, query)
    if not changes:
        ctx.outcome = "unchanged"
        return {"status": "unchanged", "changes": {}, "contact": _one_out(ctx, person), "resolved": resolved}
    write_targets_require(organization=ctx.organization)
    if ctx.dry_run:
        ctx.outcome = "dry_run"
        return {"status": "dry_run", "changes": changes, "contact": _one_out(ctx, person), "resolved": resolved}
    since = timezone.now()
    try:
        person, _changed = do()
    except ValidationError as exc:
        raise _invalid_from(exc, "fields.")
    return _after_write(ctx, person, since, {"changes": changes, "resolved": resolved})


def add_tags(ctx: ToolContext, *, contact: str, tags: list[str]) -> dict[str, Any]:
    match = contact_resolve(organization=ctx.organization, ref=contact)
    person = match.contact
    ctx.concerns(person)
    have = {t.lower() for t in person.tags}
    added = list(dict.fromkeys(t.strip() for t in tags if t.strip() and t.strip().lower() not in have))
    changes = {"tags": {"from": list(person.tags), "to": [*person.tags, *added]}} if added else {}
    return _write_changes(ctx, person, match, contact, changes,
                          lambda: contact_tags_add(contact=person, tags=added))


def remove_tags(ctx: ToolContext, *, contact: str, tags: list[str]) -> dict[str, Any]:
    match = contact_resolve(organization=ctx.organization, ref=contact)
    person = match.contact
    ctx.concerns(person)
    drop = {t.strip().lower() for t in tags}
    present = [t for t in person.tags if t.lower() in drop]
    changes = {"tags": {"from": list(person.tags), "to": [t for t in person.tags if t.lower() not in drop]}} \
        if present else {}
    return _write_changes(ctx, person, match, contact, changes,
                          lambda: contact_tags_remove(contact=person, tags=present))


# -- declarations ------------------------------------------------------------------------------------------------
_ERRORS = ("Errors: `not_found` (no such person: check spelling or use find_contact), `ambiguous` (several "
           "people match: pick one of `candidates` by contact_id, or ask the user)")
_WRITE_NOTE = ("Writes go to GoHighLevel and wait a few seconds for it to confirm: `status` is `confirmed` "
               "(GHL has it), or `queued` (saved, GHL gets it shortly). Pass `dry_run: true` to see the change "
               "without making it, and an `idempotency_key` to make a retry safe. `not_connected` means GHL is "
               "not connected.")

registry.register(Tool(
    name="find_contact", family="contacts", title="Find a contact",
    description="Search the organization's contacts by name (fuzzy: accents, case, nicknames, typos), email, "
                "phone (any format) or id. Returns up to `limit` matches, best first, each with a `score` "
                "(100 = exact). Use it when you are not sure who is meant; other tools take the same `contact` "
                "text directly.",
    input_schema={"type": "object", "additionalProperties": False, "required": ["query"], "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 320,
                  "description": "A name, part of a name, an email or a phone."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 25, "default": 5,
                  "description": "How many matches at most (1-25)."},
    }},
    output_schema={"type": "object", "required": ["matches", "count"], "properties": {
        "matches": {"type": "array", "items": {**CONTACT_OUT, "properties": {
            **CONTACT_OUT["properties"], "score": {"type": "number"}, "matched_by": {"type": "string"}}}},
        "count": {"type": "integer"},
    }},
    fn=find_contact,
))
registry.register(Tool(
    name="get_contact_context", family="contacts", title="Everything about a contact",
    description="The full picture of one person in one call: profile, tags, custom fields, do-not-disturb "
                "settings, open opportunities, upcoming appointments and the last messages. Read it before "
                f"writing to or about someone. {_ERRORS}.",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact"],
                  "properties": {"contact": CONTACT_REF}},
    output_schema={"type": "object", "required": ["contact"], "properties": {
        "contact": {"type": "object"}, "opportunities": {"type": "array"}, "upcoming_appointments": {"type": "array"},
        "last_messages": {"type": "array"}, "resolved": {"type": "object"},
    }},
    fn=get_contact_context,
))
registry.register(Tool(
    name="create_contact", family="contacts", writes=True, title="Create a contact",
    description="Add a person. Checks first for someone with the same email or phone, in the local mirror and "
                "then in GoHighLevel: if there is one, nothing is created and that person is returned with "
                "`status: existing` (`found_in`: mirror or ghl). Needs a name, an email or a "
                f"phone. {_WRITE_NOTE} `invalid` names the field to fix.",
    input_schema={"type": "object", "additionalProperties": False, "properties": {
        **{k: EDITABLE[k] for k in ("first_name", "last_name", "name", "email", "phone")},
        "tags": {**TAGS, "minItems": 0}, "custom_fields": EDITABLE["custom_fields"],
    }},
    output_schema=WRITE_OUT, fn=create_contact,
))
registry.register(Tool(
    name="update_contact", family="contacts", writes=True, title="Update a contact",
    description="Change some fields of a person; only the fields that really change are sent. `fields` takes "
                f"{', '.join(EDITABLE)}. Tags have their own tools (add_tags, remove_tags). {_ERRORS}. "
                f"{_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact", "fields"], "properties": {
        "contact": CONTACT_REF,
        "fields": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": EDITABLE,
                   "description": "The fields to change and their new values."},
    }},
    output_schema=WRITE_OUT, fn=update_contact,
))
registry.register(Tool(
    name="add_tags", family="contacts", writes=True, title="Tag a contact",
    description=f"Add tags to a person (tags already there are left alone). {_ERRORS}. {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact", "tags"],
                  "properties": {"contact": CONTACT_REF, "tags": TAGS}},
    output_schema=WRITE_OUT, fn=add_tags,
))
registry.register(Tool(
    name="remove_tags", family="contacts", writes=True, title="Untag a contact",
    description=f"Remove tags from a person (tags it does not have are ignored). {_ERRORS}. {_WRITE_NOTE}",
    input_schema={"type": "object", "additionalProperties": False, "required": ["contact", "tags"],
                  "properties": {"contact": CONTACT_REF, "tags": TAGS}},
    output_schema=WRITE_OUT, fn=remove_tags,
))
