"""Contact writes: normalisation and validation happen here, once, for every caller."""
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from .. import events
from ..emails import email_is_valid
from ..models import Contact
from ..phones import normalize_phone
from ..selectors.contact_custom_fields import contact_custom_field_definitions
from ..sync.mapping import CUSTOM_PREFIX
from ..sync.origin import current_origin
from ..sync.outbox import outbox_record
from .custom_fields import custom_field_value_clean

# Fields a caller may set through `contact_create` / `contact_update`.
CONTACT_FIELDS = frozenset(
    {
        "first_name", "last_name", "full_name", "email", "phone", "additional_emails", "additional_phones",
        "company_name", "address1", "city", "state", "postal_code", "country", "website", "timezone",
        "date_of_birth", "tags", "dnd_all", "dnd_sms", "dnd_email", "dnd_whatsapp", "dnd_call", "source",
        "custom_properties",
    }
)


def _normalize_email(value: Any, field: str) -> str:
    email = (value or "").strip().lower()
    if email and not email_is_valid(email):
        raise ValidationError({field: f"“{value}” is not a valid email address."})
    return email


def _normalize_tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise ValidationError({"tags": "Tags must be a list of strings."})
    seen: dict[str, None] = {}
    for tag in value:
        if not isinstance(tag, str):
            raise ValidationError({"tags": "Tags must be a list of strings."})
        tag = tag.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def contact_clean_fields(*, organization: Organization, data: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise contact fields; raises `ValidationError` keyed by field."""
    unknown = set(data) - CONTACT_FIELDS
    if unknown:
        raise ValidationError({name: "Unknown contact field." for name in sorted(unknown)})
    cleaned = dict(data)
    region = organization.default_phone_region
    errors: dict[str, list[str]] = {}
    if "email" in cleaned:
        try:
            cleaned["email"] = _normalize_email(cleaned["email"], "email")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "additional_emails" in cleaned:
        try:
            cleaned["additional_emails"] = [
                e for e in (_normalize_email(v, "additional_emails") for v in cleaned["additional_emails"] or []) if e
            ]
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "phone" in cleaned:
        try:
            cleaned["phone"] = normalize_phone(cleaned["phone"], default_region=region)
        except ValidationError as exc:
            errors["phone"] = exc.messages
    if "additional_phones" in cleaned:
        try:
            cleaned["additional_phones"] = [
                p for p in (normalize_phone(v, default_region=region) for v in cleaned["additional_phones"] or []) if p
            ]
        except ValidationError as exc:
            errors["additional_phones"] = exc.messages
    if "tags" in cleaned:
        try:
            cleaned["tags"] = _normalize_tags(cleaned["tags"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "country" in cleaned:
        cleaned["country"] = (cleaned["country"] or "").strip().upper()
        if cleaned["country"] and len(cleaned["country"]) != 2:
            errors["country"] = ["Country must be a two-letter ISO code, e.g. US."]
    if "custom_properties" in cleaned and not isinstance(cleaned["custom_properties"] or {}, dict):
        errors["custom_properties"] = ["Custom properties must be an object."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def contact_custom_properties_clean(*, organization: Organization, values: dict[str, Any],
                                    keys: set[str]) -> dict[str, Any]:
    """``values`` with the custom properties ``keys`` checked and normalised by the type and allowed values their
    field mapping gives them (a key no mapping knows is kept as given); raises `ValidationError` keyed
    ``custom_properties.<key>``."""
    definitions = contact_custom_field_definitions(organization=organization) if keys else {}
    cleaned, errors = dict(values), {}
    for key in sorted(keys & set(definitions)):
        try:
            cleaned[key] = custom_field_value_clean(values.get(key), definitions[key],
                                                  region=organization.default_phone_region)
        except ValueError as exc:
            reason = str(exc)
            errors[f"{CUSTOM_PREFIX}{key}"] = [f"{reason[:1].upper()}{reason[1:]}."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _check_local_custom_properties(organization: Organization, cleaned: dict[str, Any],
                                   before: dict[str, Any]) -> None:
    """A local edit (a person, an agent, admin) of custom properties is checked like any other field; a remote's
    values were converted by its mapping already, and refusing one here would lose it."""
    if current_origin() is not None or not isinstance(cleaned.get("custom_properties"), dict):
        return
    after = cleaned["custom_properties"]
    edited = {key for key in after if key not in before or before[key] != after[key]}
    cleaned["custom_properties"] = contact_custom_properties_clean(organization=organization, values=after,
                                                                   keys=edited)


def contact_clean_local_edit(*, organization: Organization, data: dict[str, Any],
                             contact: Contact | None = None) -> dict[str, Any]:
    """`contact_clean_fields` for a local write (of ``contact``, or a new one), custom properties included: what
    `contact_create` / `contact_update` will refuse, found before writing (a dry run, a duplicate check)."""
    cleaned = contact_clean_fields(organization=organization, data=data)
    _check_local_custom_properties(organization, cleaned, dict(contact.custom_properties or {}) if contact else {})
    return cleaned


def _outbox_fields(changed: set[str], before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The outbox's names of ``changed``: custom properties one by one, so a push sends only the edited ones."""
    if "custom_properties" not in changed:
        return changed
    keys = {key for key in set(before) | set(after) if before.get(key) != after.get(key)}
    return (changed - {"custom_properties"}) | {f"{CUSTOM_PREFIX}{key}" for key in keys} if keys else changed


def full_name_for(*, first_name: str, last_name: str, full_name: str, explicit_full_name: bool) -> str:
    """The full name to store: an explicit, non-empty one as given, else first and last name joined."""
    if explicit_full_name and full_name:
        return full_name
    joined = " ".join(p for p in (first_name, last_name) if p).strip()
    return joined if joined or not explicit_full_name else full_name


def _fill_full_name(contact: Contact, explicit_full_name: bool) -> None:
    contact.full_name = full_name_for(first_name=contact.first_name, last_name=contact.last_name,
                                      full_name=contact.full_name, explicit_full_name=explicit_full_name)


@transaction.atomic
def contact_create(*, organization: Organization, **fields: Any) -> Contact:
    cleaned = contact_clean_fields(organization=organization, data=fields)
    _check_local_custom_properties(organization, cleaned, {})
    contact = Contact(organization=organization, **cleaned)
    _fill_full_name(contact, explicit_full_name="full_name" in cleaned)
    contact.full_clean(exclude=["organization"])
    contact.save()
    # Same transaction as the write: a rollback leaves no outbox row, a commit always has one.
    outbox_record(obj=contact, fields=sorted(set(cleaned) | {"full_name"}))
    contact_announce_created(contact=contact)
    return contact


def contact_announce_created(*, contact: Contact) -> None:
    """The "contact created" business event (after the commit), for the agents' triggers."""
    events.emit(events.CONTACT_CREATED, organization_id=contact.organization_id, contact_id=contact.pk,
                data={"contact_id": contact.pk, "tags": list(contact.tags or [])})


@transaction.atomic
def contact_update(*, contact: Contact, **fields: Any) -> tuple[Contact, set[str]]:
    """Apply `fields`; returns the contact and the names of the fields that actually changed."""
    cleaned = contact_clean_fields(organization=contact.organization, data=fields)
    custom_before = dict(contact.custom_properties or {})
    _check_local_custom_properties(contact.organization, cleaned, custom_before)
    changed = {name for name, value in cleaned.items() if getattr(contact, name) != value}
    tags_before = list(contact.tags or [])
    for name in changed:
        setattr(contact, name, cleaned[name])
    if changed & {"first_name", "last_name", "full_name"}:
        before = contact.full_name
        _fill_full_name(contact, explicit_full_name="full_name" in cleaned)
        if contact.full_name != before:
            changed.add("full_name")
    if changed:
        contact.full_clean(exclude=["organization"])
        contact.save()
        outbox_record(obj=contact, fields=_outbox_fields(changed, custom_before, contact.custom_properties or {}))
    if "tags" in changed:
        for tag in [t for t in contact.tags if t not in tags_before]:
            events.emit(events.CONTACT_TAG_ADDED, organization_id=contact.organization_id, contact_id=contact.pk,
                        data={"contact_id": contact.pk, "tag": tag, "tags": list(contact.tags)})
    return contact, changed


@transaction.atomic
def contact_tags_add(*, contact: Contact, tags: list[str]) -> tuple[Contact, set[str]]:
    """Add tags (kept in order, no duplicates); queues a push of ``tags`` only if something changed."""
    return contact_update(contact=contact, tags=[*contact.tags, *tags])


@transaction.atomic
def contact_tags_remove(*, contact: Contact, tags: list[str]) -> tuple[Contact, set[str]]:
    drop = {t.strip() for t in tags}
    return contact_update(contact=contact, tags=[t for t in contact.tags if t not in drop])


@transaction.atomic
def contact_archive(*, contact: Contact) -> Contact:
    """Deleting a contact archives it: the row, its history and its external links stay."""
    if not contact.is_archived:
        contact.is_archived = True
        contact.archived_at = timezone.now()
        contact.save(update_fields=["is_archived", "archived_at", "updated_at"])
        # Whether an archive deletes in the remote is the provider's policy, not ours: we only report it.
        outbox_record(obj=contact, fields=["is_archived"])
    return contact


@transaction.atomic
def contact_unarchive(*, contact: Contact) -> Contact:
    if contact.is_archived:
        contact.is_archived = False
        contact.archived_at = None
        contact.save(update_fields=["is_archived", "archived_at", "updated_at"])
        outbox_record(obj=contact, fields=["is_archived"])
    return contact
