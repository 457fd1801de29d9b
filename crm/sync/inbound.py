"""Inbound: apply a remote record's state to the local mirror (webhooks, pulls, reconciliation).

Provider handlers map the remote payload with `Mapping.to_local` and call `contact_apply_remote` (one
record) or `inbound_page.contact_apply_remote_page` (a page of an initial pull / reconciliation). Every write here
runs under `sync_origin`, so it is not queued back to the account it came from.
"""
import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from tenancy.models import Organization

from ..models import Contact, ExternalIdentity
from ..services.contacts import (
    _fill_full_name,
    contact_announce_created,
    contact_archive,
    contact_clean_fields,
    contact_update,
)
from .conflict import NO_BASE, PolicyTable, policy_table_for, resolve_field
from .hashing import canonical, content_hash, values_equal
from .mapping import CUSTOM_PREFIX, get_local_value, split_custom
from .models import SyncConflict
from .origin import sync_origin
from .outbox import is_echo, outbox_discard_fields, outbox_record
from .selectors import local_edit_times, outbox_unlinked_push_in_flight

logger = logging.getLogger(__name__)

MAX_APPLY_ATTEMPTS = 3


class Outcome:
    CREATED = "created"
    UPDATED = "updated"
    LINKED = "linked"
    UNCHANGED = "unchanged"
    STALE = "stale"
    ECHO = "echo"
    ARCHIVED = "archived"
    IGNORED = "ignored"  # a delete for a record we never had


# How each outcome counts in a `SyncRun`.
OUTCOME_COUNTER = {
    Outcome.CREATED: "created", Outcome.UPDATED: "updated", Outcome.LINKED: "linked",
    Outcome.ARCHIVED: "archived", Outcome.UNCHANGED: "unchanged", Outcome.STALE: "unchanged",
    Outcome.ECHO: "unchanged", Outcome.IGNORED: "unchanged",
}


@dataclass
class ApplyResult:
    outcome: str
    contact: Contact | None = None
    changed_fields: set[str] = field(default_factory=set)
    conflicts: list[SyncConflict] = field(default_factory=list)
    pushed_fields: list[str] = field(default_factory=list)  # local won: queued back to this account
    errors: dict[str, str] = field(default_factory=dict)  # remote values rejected by validation


@dataclass
class RemoteRecord:
    """One remote record for `contact_apply_remote_page` (same meaning as `contact_apply_remote`'s args)."""

    external_id: str
    remote: dict[str, Any]
    remote_updated_at: dt.datetime | None = None
    remote_hash: str = ""
    deleted: bool = False
    # Remote values the mapping refused before this record was built (remote key → message): reported with it.
    refused: dict[str, str] = field(default_factory=dict)


@dataclass
class _Ctx:
    organization: Organization
    provider: str
    account_id: str
    connection_id: int | None
    content_type: ContentType

    @cached_property
    def policies(self) -> PolicyTable:
        """Read when a conflict needs them: a page of new contacts never does."""
        return policy_table_for(organization=self.organization, provider=self.provider, account_id=self.account_id)


def _clean_remote(organization: Organization, remote: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Normalise remote values as local writes would be; drop (and report) the ones that fail."""
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


def _write_values(contact: Contact, values: dict[str, Any]) -> set[str]:
    """Write local-named values (custom properties merged key by key) through `contact_update`."""
    updates = {k: v for k, v in values.items() if not k.startswith(CUSTOM_PREFIX)}
    custom = {k[len(CUSTOM_PREFIX):]: canonical(v) for k, v in values.items() if k.startswith(CUSTOM_PREFIX)}
    if custom:
        updates["custom_properties"] = {**(contact.custom_properties or {}), **custom}
    if not updates:
        return set()
    _, changed = contact_update(contact=contact, **updates)
    return changed


def _advance_link(link: ExternalIdentity, *, ctx: _Ctx, remote_updated_at, remote_hash: str,
                  snapshot: dict | None = None) -> None:
    if remote_updated_at and (link.remote_updated_at is None or remote_updated_at > link.remote_updated_at):
        link.remote_updated_at = remote_updated_at  # the watermark only moves forwards
    if remote_hash:
        link.content_hash = remote_hash
    if snapshot is not None:
        link.synced_snapshot = snapshot
    if ctx.connection_id is not None:
        link.connection_id = ctx.connection_id
    link.last_synced_at = timezone.now()
    link.save()


def _merge(contact: Contact, link: ExternalIdentity, cleaned: dict[str, Any], *, ctx: _Ctx, remote_updated_at,
           remote_hash: str, outcome: str, errors: dict[str, str]) -> ApplyResult:
    """Three-way merge of ``cleaned`` into ``contact`` against the link's snapshot, field by field."""
    snapshot = dict(link.synced_snapshot or {})
    edit_times = local_edit_times(contact=contact, provider=ctx.provider, account_id=ctx.account_id,
                                  content_type=ctx.content_type)
    writes: dict[str, Any] = {}
    push_back: list[str] = []
    conflicts: list[SyncConflict] = []
    for name, remote_value in cleaned.items():
        local_value = canonical(get_local_value(contact, name))
        local_changed_at = edit_times.changed_at(name)
        base = snapshot.get(name, NO_BASE)
        res = resolve_field(
            field=name, base=base, local=local_value, local_changed_at=local_changed_at,
            remote=canonical(remote_value), remote_changed_at=remote_updated_at,
            policy=ctx.policies.policy_for(name),
        )
        if res.winner == "remote":
            writes[name] = remote_value
        elif res.winner == "merged":
            writes[name] = res.value
        if not values_equal(name, res.value, remote_value):
            push_back.append(name)  # the remote does not hold the final value yet
        if res.conflict:
            conflicts.append(SyncConflict(
                organization_id=contact.organization_id, provider=ctx.provider, account_id=ctx.account_id,
                content_type=ctx.content_type, object_id=contact.pk, external_id=link.external_id, field=name,
                base_value=None if base is NO_BASE else base, local_value=local_value,
                remote_value=canonical(remote_value), applied_value=canonical(res.value),
                local_changed_at=local_changed_at, remote_changed_at=remote_updated_at, policy=res.policy,
                decision={"local": SyncConflict.Decision.LOCAL, "remote": SyncConflict.Decision.REMOTE}.get(
                    res.winner, SyncConflict.Decision.MERGED),
            ))
    changed = _write_values(contact, writes)
    remote_won = [name for name in writes if name not in push_back]
    if remote_won:
        outbox_discard_fields(obj=contact, fields=remote_won, target=(ctx.provider, ctx.account_id))
    if conflicts:
        SyncConflict.objects.bulk_create(conflicts)
        logger.info("crm.sync.conflicts", extra={"contact_id": contact.pk, "fields": [c.field for c in conflicts]})
    if push_back:
        outbox_record(obj=contact, fields=push_back, targets=[(ctx.provider, ctx.account_id)],
                      local_edit=False)  # the local value won; it was not edited again
    # The snapshot is the remote's state as we now know it: the base of the next three-way merge.
    snapshot.update({k: canonical(v) for k, v in cleaned.items()})
    _advance_link(link, ctx=ctx, remote_updated_at=remote_updated_at, remote_hash=remote_hash, snapshot=snapshot)
    if outcome == Outcome.UPDATED and not changed:
        outcome = Outcome.UNCHANGED
    return ApplyResult(outcome, contact, changed, conflicts, push_back, errors)


def _match(ctx: _Ctx, cleaned: dict[str, Any]) -> Contact | None:
    """An unlinked active contact with the same email, else the same E.164 phone (incl. additional ones)."""
    linked = ExternalIdentity.objects.filter(
        provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type
    ).values("object_id")
    qs = (
        Contact.objects.for_org(ctx.organization).active().exclude(pk__in=linked)
        .select_for_update().order_by("id")
    )
    email, phone = cleaned.get("email"), cleaned.get("phone")
    lookups = []
    if email:
        lookups += [Q(email=email), Q(additional_emails__icontains=f'"{email}"')]
    if phone:
        lookups += [Q(phone=phone), Q(additional_phones__icontains=f'"{phone}"')]
    for lookup in lookups:
        match = qs.filter(lookup).first()
        if match is not None:
            return match
    return None


def _create_link(ctx: _Ctx, contact: Contact, external_id: str) -> ExternalIdentity:
    # A concurrent apply of the same external id fails here on the unique link; the caller retries.
    return ExternalIdentity.objects.create(
        organization_id=contact.organization_id, provider=ctx.provider, account_id=ctx.account_id,
        connection_id=ctx.connection_id, content_type=ctx.content_type, object_id=contact.pk,
        external_id=external_id,
    )


class CreatePushInFlight(Exception):
    """An unmatched remote record arrived while one of our own creates to that account is in flight.

    It may be that create's echo, arriving before the push has written the link; with neither an email nor a
    phone to match on, applying it now would create a second local contact. The caller retries shortly, when
    the link exists (then it is recognised as an echo) or the push is over (then it is created).
    """


def _apply_one(ctx: _Ctx, record: RemoteRecord, *, defer_while_creating: bool = False) -> ApplyResult:
    remote_hash = record.remote_hash or content_hash(record.remote)
    link = ExternalIdentity.objects.select_for_update().filter(
        provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type,
        external_id=record.external_id,
    ).first()
    if link is not None:
        # Equal counts as stale: an event stamped with the time we already applied carries nothing newer.
        if record.remote_updated_at and link.remote_updated_at and record.remote_updated_at <= link.remote_updated_at:
            logger.info("crm.sync.stale-event", extra={"external_id": record.external_id})
            return ApplyResult(Outcome.STALE)
        contact = Contact.objects.select_for_update().filter(
            organization=ctx.organization, pk=link.object_id).first()
        if contact is None:
            raise ValueError(f"link {link.pk} points at a contact of another organisation or a missing one")
        if record.deleted:
            was = contact.is_archived
            contact_archive(contact=contact)  # never destroyed
            _advance_link(link, ctx=ctx, remote_updated_at=record.remote_updated_at, remote_hash="")
            return ApplyResult(Outcome.UNCHANGED if was else Outcome.ARCHIVED, contact)
        if is_echo(link=link, remote_hash=remote_hash):
            _advance_link(link, ctx=ctx, remote_updated_at=record.remote_updated_at, remote_hash=remote_hash)
            return ApplyResult(Outcome.ECHO, contact)
        cleaned, errors = _clean_remote(ctx.organization, record.remote)
        return _merge(contact, link, cleaned, ctx=ctx, remote_updated_at=record.remote_updated_at,
                      remote_hash=remote_hash, outcome=Outcome.UPDATED, errors=errors)
    if record.deleted:
        return ApplyResult(Outcome.IGNORED)
    cleaned, errors = _clean_remote(ctx.organization, record.remote)
    contact = _match(ctx, cleaned)
    if contact is not None:
        link = _create_link(ctx, contact, record.external_id)
        return _merge(contact, link, cleaned, ctx=ctx, remote_updated_at=record.remote_updated_at,
                      remote_hash=remote_hash, outcome=Outcome.LINKED, errors=errors)
    if defer_while_creating and outbox_unlinked_push_in_flight(
            organization=ctx.organization, provider=ctx.provider, account_id=ctx.account_id,
            content_type=ctx.content_type):
        raise CreatePushInFlight(record.external_id)
    contact = _new_contact(ctx, cleaned)
    contact.full_clean(exclude=["organization"])
    contact.save()
    outbox_record(obj=contact, fields=created_fields_of(cleaned))  # to other accounts, never back here
    link = _create_link(ctx, contact, record.external_id)
    _advance_link(link, ctx=ctx, remote_updated_at=record.remote_updated_at, remote_hash=remote_hash,
                  snapshot={k: canonical(v) for k, v in cleaned.items()})
    contact_announce_created(contact=contact)  # one record (a webhook); a pull's pages announce nothing
    return ApplyResult(Outcome.CREATED, contact, set(cleaned), [], [], errors)


def _new_contact(ctx: _Ctx, cleaned: dict[str, Any]) -> Contact:
    standard = {k: v for k, v in cleaned.items() if not k.startswith(CUSTOM_PREFIX)}
    custom = {k[len(CUSTOM_PREFIX):]: v for k, v in cleaned.items() if k.startswith(CUSTOM_PREFIX)}
    contact = Contact(organization=ctx.organization, custom_properties=custom, **standard)
    _fill_full_name(contact, explicit_full_name="full_name" in standard)
    return contact


def created_fields_of(keys) -> list[str]:
    """The outbox's field names for a new contact with these cleaned keys (custom properties as one)."""
    return sorted({k.split(".")[0] for k in keys} | {"full_name"})


def _ctx(organization, provider, account_id, connection_id) -> _Ctx:
    return _Ctx(organization, provider, str(account_id), connection_id,
                ContentType.objects.get_for_model(Contact, for_concrete_model=True))


def _with_retry(ctx: _Ctx, fn, key: str):
    for attempt in range(1, MAX_APPLY_ATTEMPTS + 1):
        try:
            with transaction.atomic(), sync_origin(provider=ctx.provider, account_id=ctx.account_id,
                                                   connection_id=ctx.connection_id):
                return fn()
        except IntegrityError:
            # A concurrent apply linked the same record (or contact) first: retry, it will now be found.
            logger.warning("crm.sync.apply.integrity-retry", extra={"key": key, "attempt": attempt})
            if attempt == MAX_APPLY_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def contact_apply_remote(
    *,
    organization: Organization,
    provider: str,
    account_id: str,
    connection_id: int | None,
    external_id: str,
    remote: dict[str, Any],
    remote_updated_at: dt.datetime | None = None,
    remote_hash: str = "",
    deleted: bool = False,
    defer_while_creating: bool = False,
) -> ApplyResult:
    """Apply one remote contact's state (``remote`` already in local names, from `Mapping.to_local`).

    Order of checks: link by external id (locked) → watermark (``remote_updated_at`` ≤ watermark →
    ``stale``; absent → applied) → delete (archive) → echo (``remote_hash`` equals the hash last pushed or
    applied → ``echo``) → three-way merge with conflict policy. Unlinked records are matched by email,
    then E.164 phone (primary and additional) before a new contact is created. ``remote_hash`` defaults
    to ``content_hash(remote)``. Runs in its own transaction; safe to call concurrently for one record.
    With ``defer_while_creating`` (real-time events), a record that would create a new contact raises
    `CreatePushInFlight` while a create of ours to the account is in flight.
    """
    ctx = _ctx(organization, provider, account_id, connection_id)
    record = RemoteRecord(external_id, remote, remote_updated_at, remote_hash, deleted)
    return _with_retry(ctx, lambda: _apply_one(ctx, record, defer_while_creating=defer_while_creating),
                       external_id)
