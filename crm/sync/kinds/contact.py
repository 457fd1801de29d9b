"""Contacts, the first kind of record the sync engine serves: what the engine needs to know about them.

Registered from `CrmConfig.ready()`. Matching an unlinked remote contact tries its email (a contact's main
one, then its additional ones), then its E.164 phone likewise; the bulk page path (`contact_page.py`) does the
same in one query.
"""
from typing import Any

from django.core.exceptions import ValidationError

from tenancy.models import Organization

from ...models import Contact
from ...services.contacts import (
    contact_announce_created,
    contact_archive,
    contact_clean_fields,
    contact_update,
    full_name_for,
)
from ..conflict import DEFAULT_FIELD_POLICIES
from ..hashing import canonical
from ..mapping import CUSTOM_PREFIX, split_custom
from . import CONTACT, MatchKey, SyncKind

# The per-channel DND flags: a remote may send them in events of their own (GHL: ContactDndUpdate, while its
# ContactUpdate carries only the all-channels flag), so they are ordered by a watermark of their own. `dnd_all`
# is not in the group: every contact event carries it, so the record's watermark orders it.
DND_GROUP = "dnd"
DND_CHANNEL_FIELDS = frozenset(f"dnd_{channel}" for channel in Contact.DND_CHANNELS)


def contact_clean_remote(organization: Organization, remote: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Normalise remote values as local writes would be; drop (and report, by field) the ones that fail."""
    custom, standard = split_custom(remote)
    errors: dict[str, str] = {}
    for _ in range(len(standard) + 1):
        try:
            cleaned = contact_clean_fields(organization=organization, data=standard)
            break
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors[name] = " ".join(messages)
                standard.pop(name, None)
    else:  # pragma: no cover - every pass drops at least one field
        cleaned = {}
    if custom:
        cleaned.update((k, canonical(v)) for k, v in custom.items())
    return cleaned, errors


def contact_write_values(contact: Contact, values: dict[str, Any]) -> set[str]:
    """Write local-named values (custom properties merged key by key) through `contact_update`."""
    updates = {k: v for k, v in values.items() if not k.startswith(CUSTOM_PREFIX)}
    custom = {k[len(CUSTOM_PREFIX):]: canonical(v) for k, v in values.items() if k.startswith(CUSTOM_PREFIX)}
    if custom:
        updates["custom_properties"] = {**(contact.custom_properties or {}), **custom}
    if not updates:
        return set()
    _, changed = contact_update(contact=contact, **updates)
    return changed


def contact_build(organization: Organization, cleaned: dict[str, Any]) -> Contact:
    """An unsaved contact from cleaned remote values (the full name filled as `contact_create` fills it)."""
    standard = {k: v for k, v in cleaned.items() if not k.startswith(CUSTOM_PREFIX)}
    custom = {k[len(CUSTOM_PREFIX):]: v for k, v in cleaned.items() if k.startswith(CUSTOM_PREFIX)}
    contact = Contact(organization=organization, custom_properties=custom, **standard)
    contact.full_name = full_name_for(first_name=contact.first_name, last_name=contact.last_name,
                                      full_name=contact.full_name, explicit_full_name="full_name" in standard)
    return contact


def created_fields_of(keys) -> list[str]:
    """The outbox's field names for a new contact with these cleaned keys (custom properties as one)."""
    return sorted({k.split(".")[0] for k in keys} | {"full_name"})


CONTACT_KIND = SyncKind(
    name=CONTACT,
    model=Contact,
    clean=contact_clean_remote,
    build=contact_build,
    update=contact_write_values,
    archive=lambda contact: contact_archive(contact=contact),
    match_keys=(MatchKey("email", ("email", "additional_emails")), MatchKey("phone", ("phone", "additional_phones"))),
    created_fields=created_fields_of,
    field_policies=DEFAULT_FIELD_POLICIES,
    announce_created=lambda contact: contact_announce_created(contact=contact),
    mark_groups={DND_GROUP: DND_CHANNEL_FIELDS},
)
