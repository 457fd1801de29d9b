"""Inbound: apply a remote record's state to the local mirror (webhooks, pulls, reconciliation), any kind.

Provider handlers map the remote payload with `Mapping.to_local` and call `record_apply_remote` (one record
of a kind, see `kinds/`; `contact_apply_remote` for contacts) or `kinds.contact_page.contact_apply_remote_page` (a
page of contacts of an initial pull / reconciliation). Every write here runs under `sync_origin`, so it is not
queued back to the account it came from.

Internal API for bulk paths of one kind (`kinds/contact_page.py`): `ApplyContext` / `apply_context`, `apply_one`
(one record inside the caller's transaction) and `apply_with_retry` (a transaction under the sync origin,
retried when a concurrent apply linked the same record first).
"""
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from tenancy.models import Organization

from ..models import ExternalIdentity
from .conflict import NO_BASE, PolicyTable, policy_table_for, resolve_field
from .hashing import canonical, content_hash, values_equal
from .history import changes_of
from .kinds import CONTACT, SyncKind, kind_named
from .mapping import get_local_value
from .marks import advance_group_marks, group_mark
from .models import RemoteChange, SyncConflict
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
    contact: models.Model | None = None  # the local record, of whatever kind (named for the first kind)
    changed_fields: set[str] = field(default_factory=set)
    conflicts: list[SyncConflict] = field(default_factory=list)
    pushed_fields: list[str] = field(default_factory=list)  # local won: queued back to this account
    errors: dict[str, str] = field(default_factory=dict)  # remote values rejected by validation
    changes: dict[str, list] = field(default_factory=dict)  # field → [old, new] (local names, canonical) as applied


@dataclass
class RemoteRecord:
    """One remote record for a page apply (same meaning as `record_apply_remote`'s args)."""

    external_id: str
    remote: dict[str, Any]
    remote_updated_at: dt.datetime | None = None
    remote_hash: str = ""
    deleted: bool = False
    # Remote values the mapping refused before this record was built (remote key → message): reported with it.
    refused: dict[str, str] = field(default_factory=dict)
    # A real-time event (a webhook), not a read: it confirms that the remote's events reach us (`remote_seen_at`).
    live: bool = False


@dataclass
class ApplyContext:
    """One apply's account and kind: who the remote is and what kind of record it sent."""

    organization: Organization
    provider: str
    account_id: str
    connection_id: int | None
    content_type: ContentType
    kind: SyncKind
    source: str = RemoteChange.Source.READ  # where the records come from, for the history (`RemoteChange`)
    # Set by a page apply: the history rows of its records, written together at the end of the page.
    history: list[RemoteChange] | None = None

    @cached_property
    def policies(self) -> PolicyTable:
        """Read when a conflict needs them: a page of new records never does."""
        return policy_table_for(organization=self.organization, provider=self.provider, account_id=self.account_id,
                                object_type=self.kind.name)


def _newer_groups(ctx: ApplyContext, link: ExternalIdentity, record: RemoteRecord) -> list[str]:
    """The kind's mark groups ``record`` carries and is newer for than their marks (no timestamp on the record,
    or no mark yet on the link, counts as newer)."""
    groups = ctx.kind.groups_in(record.remote)
    if record.remote_updated_at is None:
        return groups
    return [g for g in groups if (mark := group_mark(link, g)) is None or record.remote_updated_at > mark]


def group_values_differ(kind: SyncKind, snapshot: dict[str, Any] | None, remote: dict[str, Any],
                        groups: Iterable[str]) -> bool:
    """Whether ``remote`` holds a value of these mark groups other than the link's ``snapshot``: the content
    hash may not cover them (GHL's covers what every contact event carries), so a hash match alone is no echo."""
    snapshot = snapshot or {}
    for group in groups:
        for name in kind.mark_groups[group]:
            if name in remote and (name not in snapshot or not values_equal(name, remote[name], snapshot[name])):
                return True
    return False


def _advance_link(link: ExternalIdentity, *, ctx: ApplyContext, remote_updated_at, remote_hash: str,
                  snapshot: dict | None = None, live: bool = False, groups: Iterable[str] = ()) -> None:
    if live:
        link.remote_seen_at = timezone.now()
    if remote_updated_at and (link.remote_updated_at is None or remote_updated_at > link.remote_updated_at):
        link.remote_updated_at = remote_updated_at  # the watermark only moves forwards
    advance_group_marks(link, groups, remote_updated_at)
    if remote_hash:
        link.content_hash = remote_hash
    if snapshot is not None:
        link.synced_snapshot = snapshot
    if ctx.connection_id is not None:
        link.connection_id = ctx.connection_id
    link.last_synced_at = timezone.now()
    link.save()


def _merge(obj: models.Model, link: ExternalIdentity, cleaned: dict[str, Any], *, ctx: ApplyContext,
           remote_updated_at, remote_hash: str, outcome: str, errors: dict[str, str],
           live: bool = False, groups: Iterable[str] = ()) -> ApplyResult:
    """Three-way merge of ``cleaned`` into ``obj`` against the link's snapshot, field by field."""
    contact = obj
    snapshot = dict(link.synced_snapshot or {})
    edit_times = local_edit_times(obj=contact, provider=ctx.provider, account_id=ctx.account_id,
                                  content_type=ctx.content_type)
    writes: dict[str, Any] = {}
    push_back: list[str] = []
    conflicts: list[SyncConflict] = []
    before: dict[str, Any] = {}
    for name, remote_value in cleaned.items():
        local_value = before[name] = canonical(get_local_value(contact, name))
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
    changed = ctx.kind.update(contact, writes) if writes else set()
    changes = changes_of(contact, before, writes) if changed else {}
    remote_won = [name for name in writes if name not in push_back]
    if remote_won:
        outbox_discard_fields(obj=contact, fields=remote_won, target=(ctx.provider, ctx.account_id))
    if conflicts:
        SyncConflict.objects.bulk_create(conflicts)
        logger.info("crm.sync.conflicts", extra={"object_type": ctx.kind.name, "object_id": contact.pk,
                                                 "fields": [c.field for c in conflicts]})
    if push_back:
        outbox_record(obj=contact, fields=push_back, targets=[(ctx.provider, ctx.account_id)],
                      local_edit=False)  # the local value won; it was not edited again
    # The snapshot is the remote's state as we now know it: the base of the next three-way merge.
    snapshot.update({k: canonical(v) for k, v in cleaned.items()})
    _advance_link(link, ctx=ctx, remote_updated_at=remote_updated_at, remote_hash=remote_hash, snapshot=snapshot,
                  live=live, groups=groups)
    if outcome == Outcome.UPDATED and not changed:
        outcome = Outcome.UNCHANGED
    result = ApplyResult(outcome, contact, changed, conflicts, push_back, errors, changes)
    _note_change(ctx, link.external_id, remote_updated_at, result)
    return result


HISTORY_OUTCOMES = {Outcome.CREATED: RemoteChange.Outcome.CREATED, Outcome.UPDATED: RemoteChange.Outcome.UPDATED,
                    Outcome.LINKED: RemoteChange.Outcome.LINKED, Outcome.ARCHIVED: RemoteChange.Outcome.ARCHIVED}


def _note_change(ctx: ApplyContext, external_id: str, remote_updated_at, result: ApplyResult) -> None:
    """The record's history row of an apply that changed something (or linked, created, archived it): one
    INSERT in the apply's transaction, or kept for the page's single bulk INSERT (`ApplyContext.history`)."""
    outcome = HISTORY_OUTCOMES.get(result.outcome) or (RemoteChange.Outcome.UPDATED if result.conflicts else None)
    if outcome is None or result.contact is None:
        return
    row = RemoteChange(
        organization_id=result.contact.organization_id, provider=ctx.provider, account_id=ctx.account_id,
        content_type=ctx.content_type, object_id=result.contact.pk, external_id=external_id, source=ctx.source,
        outcome=outcome, changes=result.changes, remote_updated_at=remote_updated_at,
        conflicts=[{"field": c.field, "decision": c.decision} for c in result.conflicts])
    if ctx.history is not None:
        ctx.history.append(row)
    else:
        row.save(force_insert=True)


def _match(ctx: ApplyContext, cleaned: dict[str, Any]) -> models.Model | None:
    """An unlinked active local record holding the first of the kind's match keys the remote record has (for
    contacts: the same email, else the same E.164 phone, main ones before additional ones); oldest first."""
    lookups = []
    for match_key in ctx.kind.match_keys:
        value = cleaned.get(match_key.key)
        if value in (None, ""):
            continue
        for name in match_key.fields:
            field = ctx.kind.model._meta.get_field(name)
            # A JSON list holds the value as one of its members.
            lookups.append(Q(**{f"{name}__icontains": f'"{value}"'}) if isinstance(field, models.JSONField)
                           else Q(**{name: value}))
    if not lookups:
        return None
    linked = ExternalIdentity.objects.filter(
        provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type
    ).values("object_id")
    qs = ctx.kind.model._default_manager.filter(organization=ctx.organization).exclude(pk__in=linked)
    if any(f.name == "is_archived" for f in ctx.kind.model._meta.concrete_fields):
        qs = qs.filter(is_archived=False)
    qs = qs.select_for_update().order_by("id")
    for lookup in lookups:
        match = qs.filter(lookup).first()
        if match is not None:
            return match
    return None


def _create_link(ctx: ApplyContext, contact: models.Model, external_id: str) -> ExternalIdentity:
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


def apply_one(ctx: ApplyContext, record: RemoteRecord, *, defer_while_creating: bool = False) -> ApplyResult:
    """Apply one record inside the caller's transaction (under its sync origin: see `apply_with_retry`)."""
    remote_hash = record.remote_hash or content_hash(record.remote)
    link = ExternalIdentity.objects.select_for_update().filter(
        provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type,
        external_id=record.external_id,
    ).first()
    if link is not None:
        # Equal counts as stale: an event stamped with the time we already applied carries nothing newer.
        stale = bool(record.remote_updated_at and link.remote_updated_at
                     and record.remote_updated_at <= link.remote_updated_at)
        # The kind's separately ordered groups (per-channel DND) compete only with records that carry them.
        groups = ctx.kind.groups_in(record.remote) if ctx.kind.mark_groups else []
        newer = _newer_groups(ctx, link, record) if groups else []
        if stale and (record.deleted or not newer):
            logger.info("crm.sync.stale-event", extra={"external_id": record.external_id})
            if record.live and record.remote_updated_at == link.remote_updated_at and link.remote_seen_at is None:
                # Stamped with our own push's time: its echo came back, so the remote's events reach us.
                link.remote_seen_at = timezone.now()
                link.save(update_fields=["remote_seen_at", "updated_at"])
            return ApplyResult(Outcome.STALE)
        contact = ctx.kind.model._default_manager.select_for_update().filter(
            organization=ctx.organization, pk=link.object_id).first()
        if contact is None:
            raise ValueError(f"link {link.pk} points at a {ctx.kind.name} of another organisation or a missing one")
        if record.deleted:
            was = getattr(contact, "is_archived", False)
            ctx.kind.archive(contact)  # never destroyed
            _advance_link(link, ctx=ctx, remote_updated_at=record.remote_updated_at, remote_hash="", live=record.live)
            if was:
                return ApplyResult(Outcome.UNCHANGED, contact)
            result = ApplyResult(Outcome.ARCHIVED, contact, changes={"is_archived": [False, True]})
            _note_change(ctx, link.external_id, record.remote_updated_at, result)
            return result
        if stale:
            # Older than the record's watermark (a ContactUpdate stamped the same or later came first) but newer
            # than the marks of groups it carries: those groups' fields are applied, nothing else, and the content
            # hash stays the one of the newer state.
            fields = set().union(*(ctx.kind.mark_groups[g] for g in newer))
            logger.info("crm.sync.group-event", extra={"external_id": record.external_id, "groups": newer})
            cleaned, errors = ctx.kind.clean(ctx.organization,
                                             {k: v for k, v in record.remote.items() if k in fields})
            return _merge(contact, link, cleaned, ctx=ctx, remote_updated_at=record.remote_updated_at,
                          remote_hash="", outcome=Outcome.UPDATED, errors=errors, live=record.live, groups=newer)
        if is_echo(link=link, remote_hash=remote_hash) and not group_values_differ(
                ctx.kind, link.synced_snapshot, record.remote, newer):
            _advance_link(link, ctx=ctx, remote_updated_at=record.remote_updated_at, remote_hash=remote_hash,
                          live=record.live, groups=newer)
            return ApplyResult(Outcome.ECHO, contact)
        remote = record.remote
        if len(newer) < len(groups):  # a group already applied from a newer record (a push's response)
            held = set().union(*(ctx.kind.mark_groups[g] for g in groups if g not in newer))
            remote = {k: v for k, v in remote.items() if k not in held}
        cleaned, errors = ctx.kind.clean(ctx.organization, remote)
        return _merge(contact, link, cleaned, ctx=ctx, remote_updated_at=record.remote_updated_at,
                      remote_hash=remote_hash, outcome=Outcome.UPDATED, errors=errors, live=record.live,
                      groups=newer)
    if record.deleted:
        return ApplyResult(Outcome.IGNORED)
    cleaned, errors = ctx.kind.clean(ctx.organization, record.remote)
    contact = _match(ctx, cleaned)
    if contact is not None:
        link = _create_link(ctx, contact, record.external_id)
        return _merge(contact, link, cleaned, ctx=ctx, remote_updated_at=record.remote_updated_at,
                      remote_hash=remote_hash, outcome=Outcome.LINKED, errors=errors,
                      groups=ctx.kind.groups_in(cleaned))
    if defer_while_creating and outbox_unlinked_push_in_flight(
            organization=ctx.organization, provider=ctx.provider, account_id=ctx.account_id,
            content_type=ctx.content_type):
        raise CreatePushInFlight(record.external_id)
    contact = ctx.kind.build(ctx.organization, cleaned)
    contact.full_clean(exclude=["organization"])
    contact.save()
    outbox_record(obj=contact, fields=ctx.kind.created_fields(cleaned))  # to other accounts, never back here
    link = _create_link(ctx, contact, record.external_id)
    _advance_link(link, ctx=ctx, remote_updated_at=record.remote_updated_at, remote_hash=remote_hash,
                  snapshot={k: canonical(v) for k, v in cleaned.items()}, groups=ctx.kind.groups_in(cleaned))
    ctx.kind.announce_created(contact)  # one record (a webhook); a pull's pages announce nothing
    result = ApplyResult(Outcome.CREATED, contact, set(cleaned), [], [], errors,
                         {k: [None, canonical(v)] for k, v in cleaned.items() if v not in (None, "", [], {})})
    _note_change(ctx, record.external_id, record.remote_updated_at, result)
    return result


def apply_context(organization, provider, account_id, connection_id, *, kind: str = CONTACT,
                  source: str = RemoteChange.Source.READ) -> ApplyContext:
    """The context of applies from one account for records of ``kind`` (a registered kind's name) that come
    from ``source`` (a `RemoteChange.Source`: what the records' history says they came by)."""
    sync_kind = kind_named(kind)
    return ApplyContext(organization, provider, str(account_id), connection_id,
                        ContentType.objects.get_for_model(sync_kind.model, for_concrete_model=True), sync_kind,
                        source=source)


def apply_with_retry(ctx: ApplyContext, fn, key: str):
    """``fn()`` in a transaction under the account's sync origin; retried when a concurrent apply of the same
    record (or local row) linked it first, so the retry finds the winner's link."""
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


def record_apply_remote(
    *,
    kind: str,
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
    live: bool = False,
    source: str = "",
) -> ApplyResult:
    """Apply one remote record of ``kind`` (``remote`` already in local names, from `Mapping.to_local`).

    Order of checks: link by external id (locked) → watermark (``remote_updated_at`` ≤ watermark →
    ``stale``; absent → applied; but the fields of the kind's `mark_groups` the record carries are checked
    against their group's own mark and, newer, applied alone) → delete (the kind's archive) → echo
    (``remote_hash`` equals the hash last pushed or applied, and the record's group values equal the snapshot →
    ``echo``) → three-way merge with the kind's conflict policies. Unlinked records are
    matched on the kind's match keys before a new record is built, validated and saved. ``remote_hash``
    defaults to ``content_hash(remote)``. Runs in its own transaction; safe to call concurrently for one
    record. With ``defer_while_creating`` (real-time events), a record that would create a new local record
    raises `CreatePushInFlight` while a create of ours to the account is in flight. ``live``: the record is a
    real-time event (a webhook); applied (or our own push's echo), it sets the link's ``remote_seen_at``.
    ``source``: what the record's history (`RemoteChange`) says it came by; by default a webhook when ``live``,
    else a read. An apply that changes, links, creates or archives the record writes one history row.
    """
    source = source or (RemoteChange.Source.WEBHOOK if live else RemoteChange.Source.READ)
    ctx = apply_context(organization, provider, account_id, connection_id, kind=kind, source=source)
    record = RemoteRecord(external_id, remote, remote_updated_at, remote_hash, deleted, live=live)
    return apply_with_retry(ctx, lambda: apply_one(ctx, record, defer_while_creating=defer_while_creating),
                            external_id)


def contact_apply_remote(**kwargs: Any) -> ApplyResult:
    """`record_apply_remote` for contacts (the same keyword arguments but ``kind``): match by link, then email,
    then E.164 phone (primary and additional); a remote delete archives the contact."""
    return record_apply_remote(kind=CONTACT, **kwargs)
