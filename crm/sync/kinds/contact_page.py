"""Inbound in bulk: apply a page of remote contacts (initial pull, reconciliation) with few queries.

New records with no local match are bulk-inserted (contacts, then links; with `COPY` on PostgreSQL, see
`contact_copy.py`); linked records whose content hash is unchanged are skipped; matches, updates and deletes
go through the single-record path of `inbound.py`, inside the same transaction.
"""
import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from tenancy.models import Organization

from ...models import Contact, ExternalIdentity
from ..hashing import CANONICAL_AS_IS, canonical, content_hash
from ..inbound import (
    OUTCOME_COUNTER,
    ApplyContext,
    ApplyResult,
    RemoteRecord,
    apply_context,
    apply_one,
    apply_with_retry,
    group_values_differ,
)
from ..models import RemoteChange
from ..outbox import hash_is_echo, outbox_record_created_ids
from ..sql import in_values, json_literal
from . import CONTACT
from .contact import contact_build, contact_clean_remote, created_fields_of
from .contact_copy import contacts_copy_insert, copy_supported, new_contact_row

logger = logging.getLogger(__name__)


@dataclass
class PageResult:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("created", "updated", "linked", "archived", "conflicted", "failed", "unchanged"), 0))
    errors: dict[str, str] = field(default_factory=dict)  # external id → message

    def add(self, result: ApplyResult) -> None:
        self.counts[OUTCOME_COUNTER[result.outcome]] += 1
        self.counts["conflicted"] += len(result.conflicts)


def contact_apply_remote_page(
    *,
    organization: Organization,
    provider: str,
    account_id: str,
    connection_id: int | None,
    records: list[RemoteRecord],
    sync_targets: Callable[[], list[tuple[str, str]]] | None = None,
    source: str = RemoteChange.Source.PULL,
) -> PageResult:
    """Apply a page of remote contacts (initial pull, reconciliation) in one transaction, with few queries.

    Idempotent: re-running a page after a crash finds the links it made and changes nothing. New records
    with no local match are bulk-inserted (contacts, then links); linked records whose hash is unchanged
    are skipped; the rest (matches, updates, deletes) go through the single-record path. ``sync_targets``:
    see `outbox_record_created_ids`. ``source`` (`RemoteChange.Source`: a pull or a reconciliation) is what the
    contacts' history says the page came by: one row per contact it changed, linked or archived, and one summary
    row for the contacts it created (their ``created_at`` is the summary's ``applied_at``), in one INSERT.
    """
    ctx = apply_context(organization, provider, account_id, connection_id, kind=CONTACT, source=source)
    by_id = {r.external_id: r for r in records}  # a record listed twice: the last one wins
    return apply_with_retry(ctx, lambda: _apply_page(ctx, list(by_id.values()), sync_targets), f"page:{len(by_id)}")


def _apply_page(ctx: ApplyContext, records: list[RemoteRecord],
                sync_targets: Callable[[], list[tuple[str, str]]] | None) -> PageResult:
    result = PageResult()
    ctx.history = []  # this attempt's history rows (a retried page starts again)
    # The snapshots too when records carry separately ordered fields (per-channel DND), which the hash may not cover.
    with_groups = bool(ctx.kind.mark_groups) and any(ctx.kind.groups_in(r.remote) for r in records)
    link_states = _link_states(ctx, [r.external_id for r in records], with_snapshots=with_groups)
    slow: list[RemoteRecord] = []
    fresh: list[tuple[RemoteRecord, dict[str, Any]]] = []
    for record in records:
        linked = link_states.get(record.external_id)
        if linked is not None:
            linked_hash, snapshot = linked
            remote_hash = record.remote_hash or content_hash(record.remote)
            if not record.deleted and hash_is_echo(linked_hash=linked_hash, remote_hash=remote_hash) and not (
                    with_groups and group_values_differ(ctx.kind, snapshot, record.remote,
                                                        ctx.kind.groups_in(record.remote))):
                result.counts["unchanged"] += 1
            else:
                _note_refused(result, record.external_id, record.refused)
                slow.append(record)
        elif record.deleted:
            result.counts["unchanged"] += 1
        else:
            cleaned, errors = contact_clean_remote(ctx.organization, record.remote)
            _note_refused(result, record.external_id, {**record.refused, **errors})
            fresh.append((record, cleaned))
    matched = _bulk_match(ctx, [c for _, c in fresh])
    use_copy = copy_supported()
    new: list[tuple[RemoteRecord, dict[str, Any], Any]] = []  # (record, cleaned, COPY row or Contact)
    for (record, cleaned), match in zip(fresh, matched, strict=True):
        if match:
            slow.append(record)
            continue
        try:
            build = lambda c: contact_build(ctx.organization, c)  # noqa: E731
            new.append((record, cleaned, new_contact_row(cleaned, build) if use_copy
                        else _valid_new_contact(ctx, cleaned)))
        except ValidationError as exc:
            result.counts["failed"] += 1
            result.errors[record.external_id] = str(exc.message_dict)
    if new:
        # A link's last_synced_at must not be older than its contact's updated_at, or reconciliation takes
        # the contact for a local change never pushed: one time for both with COPY, after the INSERT otherwise.
        now = timezone.now()
        if use_copy:
            ids = contacts_copy_insert(organization_id=ctx.organization.pk, rows=[row for _, _, row in new],
                                       links=[_link_values(ctx, r, cleaned, now) for r, cleaned, _ in new], now=now)
        else:
            ids = [c.pk for c in Contact.objects.bulk_create([c for _, _, c in new])]
            now = timezone.now()
            # The moment the page's history summary names them by (COPY writes it as it writes the rows).
            Contact.objects.filter(pk__in=ids).update(created_at=now, updated_at=now)
            ExternalIdentity.objects.bulk_create([
                ExternalIdentity(object_id=pk, **_link_values(ctx, r, cleaned, now))
                for pk, (r, cleaned, _) in zip(ids, new, strict=True)])
        created_keys: set[str] = set()
        for _, cleaned, _ in new:
            created_keys.update(cleaned)
        all_fields = created_fields_of(created_keys)
        outbox_record_created_ids(model=Contact, organization_id=ctx.organization.pk, ids=ids, fields=all_fields,
                                  sync_targets=sync_targets)
        result.counts["created"] += len(ids)
        ctx.history.append(RemoteChange(
            organization_id=ctx.organization.pk, provider=ctx.provider, account_id=ctx.account_id,
            content_type=ctx.content_type, object_id=None, source=ctx.source, outcome=RemoteChange.Outcome.CREATED,
            count=len(ids), applied_at=now))
    for record in slow:
        try:
            with transaction.atomic():
                result.add(apply_one(ctx, record))
        except (ValidationError, ValueError) as exc:
            result.counts["failed"] += 1
            result.errors[record.external_id] = str(exc)
            logger.warning("crm.sync.apply.failed", extra={"external_id": record.external_id, "error": str(exc)})
    if ctx.history:
        RemoteChange.objects.bulk_create(ctx.history)
    return result


def _valid_new_contact(ctx: ApplyContext, cleaned: dict[str, Any]) -> Contact:
    contact = contact_build(ctx.organization, cleaned)
    contact.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    return contact


def _link_values(ctx: ApplyContext, record: RemoteRecord, cleaned: dict[str, Any], now) -> dict[str, Any]:
    """A new link's column values, all but ``object_id`` (and the timestamps Django fills)."""
    return {
        "organization_id": ctx.organization.pk, "provider": ctx.provider, "account_id": ctx.account_id,
        "connection_id": ctx.connection_id, "content_type_id": ctx.content_type.pk,
        "external_id": record.external_id, "content_hash": record.remote_hash or content_hash(record.remote),
        "remote_updated_at": record.remote_updated_at, "last_synced_at": now,
        "synced_snapshot": {k: v if type(v) in CANONICAL_AS_IS else canonical(v) for k, v in cleaned.items()},
        "group_marks": _new_group_marks(ctx, record, cleaned),
    }


def _new_group_marks(ctx: ApplyContext, record: RemoteRecord, cleaned: dict[str, Any]) -> dict[str, str]:
    groups = ctx.kind.groups_in(cleaned) if ctx.kind.mark_groups else []
    if not groups or record.remote_updated_at is None:
        return {}
    at = record.remote_updated_at.astimezone(dt.UTC).isoformat()
    return dict.fromkeys(groups, at)


def _note_refused(result: PageResult, external_id: str, refused: dict[str, str]) -> None:
    """Values the mapping or validation refused are not stored; say so per record (the run keeps them)."""
    if refused:
        result.errors[external_id] = "; ".join(f"{k}: {v}" for k, v in refused.items())


def _link_states(ctx: ApplyContext, external_ids: list[str], *,
                 with_snapshots: bool = False) -> dict[str, tuple[str, dict | None]]:
    """external id → (the content hash its link last synced, its snapshot when ``with_snapshots`` else None),
    for the records of a page that are linked."""
    if not external_ids:
        return {}
    table = ExternalIdentity._meta.db_table
    match_ids, id_params = in_values("external_id", external_ids)
    columns = "external_id, content_hash" + (", synced_snapshot" if with_snapshots else "")
    with connection.cursor() as cursor:
        where = f"provider = %s AND account_id = %s AND content_type_id = %s AND {match_ids}"
        sql = f"SELECT {columns} FROM {table} WHERE {where}"  # noqa: S608
        cursor.execute(sql, [ctx.provider, ctx.account_id, ctx.content_type.pk, *id_params])
        if not with_snapshots:
            return {external_id: (linked_hash, None) for external_id, linked_hash in cursor.fetchall()}
        return {external_id: (linked_hash, json.loads(snapshot) if isinstance(snapshot, str) else snapshot)
                for external_id, linked_hash, snapshot in cursor.fetchall()}


def _match_candidates(ctx: ApplyContext, emails: set[str], phones: set[str]) -> list[tuple]:
    """The organisation's active contacts not linked to this account whose email or phone is among ``emails``
    / ``phones``, plus every one with additional emails or phones: ``(id, email, phone, additional_emails,
    additional_phones)`` with the JSON columns as text. One statement; each branch goes through its own index
    (the last one through the partial index ``crm_contact_org_more_ids``, whose condition it repeats), rather
    than one OR the planner can only answer by reading every contact of the organisation."""
    contacts, links = Contact._meta.db_table, ExternalIdentity._meta.db_table
    columns = "c.id, c.email, c.phone, c.additional_emails, c.additional_phones"
    empty = json_literal("[]")
    # Table names come from the models, values go as parameters.
    link_of_c = "l.provider = %s AND l.account_id = %s AND l.content_type_id = %s AND l.object_id = c.id"
    unlinked = f"NOT EXISTS (SELECT 1 FROM {links} l WHERE {link_of_c})"  # noqa: S608
    link_params = [ctx.provider, ctx.account_id, ctx.content_type.pk]
    conditions = [in_values("c.email", emails) if emails else None, in_values("c.phone", phones) if phones else None,
                  (f"NOT (c.additional_emails = {empty} AND c.additional_phones = {empty})", [])]
    branches, params = [], []
    for condition in filter(None, conditions):
        sql, condition_params = condition
        where = f"c.organization_id = %s AND NOT c.is_archived AND {sql} AND {unlinked}"
        branches.append(f"SELECT {columns} FROM {contacts} c WHERE {where}")  # noqa: S608
        params += [ctx.organization.pk, *condition_params, *link_params]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The default random_page_cost (4, a spinning disk's) prices a page's hundred index probes above
            # reading the whole organisation until it holds some 15,000 contacts; ours are in memory.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
        cursor.execute(" UNION ALL ".join(branches), params)
        rows = cursor.fetchall()
        if connection.vendor == "postgresql":
            cursor.execute("RESET random_page_cost")
    return rows


def _json_list(text: str | None) -> list:
    return json.loads(text) if text and text != "[]" else []


def _bulk_match(ctx: ApplyContext, cleaned_list: list[dict[str, Any]]) -> list[int | None]:
    """For each cleaned record, the id of an unlinked local contact it matches (one query in all): by email,
    then by phone, each first as a contact's main one then as an additional one; the oldest contact wins."""
    emails = {c["email"] for c in cleaned_list if c.get("email")}
    phones = {c["phone"] for c in cleaned_list if c.get("phone")}
    if not emails and not phones:
        return [None] * len(cleaned_list)
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    extra_email: dict[str, int] = {}
    extra_phone: dict[str, int] = {}
    # Newest first, so the oldest contact ends up in each map (a contact can come from two branches).
    for pk, email, phone, more_emails, more_phones in sorted(set(_match_candidates(ctx, emails, phones)),
                                                             reverse=True):
        if email in emails:
            by_email[email] = pk
        if phone in phones:
            by_phone[phone] = pk
        for e in _json_list(more_emails):
            extra_email[e] = pk
        for p in _json_list(more_phones):
            extra_phone[p] = pk
    out: list[int | None] = []
    for c in cleaned_list:
        email, phone = c.get("email"), c.get("phone")
        out.append(
            (email and (by_email.get(email) or extra_email.get(email)))
            or (phone and (by_phone.get(phone) or extra_phone.get(phone)))
            or None
        )
    return out
