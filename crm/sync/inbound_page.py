"""Inbound in bulk: apply a page of remote contacts (initial pull, reconciliation) with few queries.

New records with no local match are bulk-inserted (contacts, then links; with `COPY` on PostgreSQL, see
`bulk_copy.py`); linked records whose content hash is unchanged are skipped; matches, updates and deletes
go through the single-record path of `inbound.py`, inside the same transaction.
"""
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from tenancy.models import Organization

from ..models import Contact, ExternalIdentity
from .bulk_copy import contacts_copy_insert, copy_supported, new_contact_row
from .hashing import canonical, content_hash
from .inbound import (
    OUTCOME_COUNTER,
    ApplyResult,
    RemoteRecord,
    _apply_one,
    _clean_remote,
    _created_fields,
    _Ctx,
    _ctx,
    _new_contact,
    _with_retry,
)
from .outbox import is_echo, outbox_record_created_ids
from .sql import any_of

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
) -> PageResult:
    """Apply a page of remote contacts (initial pull, reconciliation) in one transaction, with few queries.

    Idempotent: re-running a page after a crash finds the links it made and changes nothing. New records
    with no local match are bulk-inserted (contacts, then links); linked records whose hash is unchanged
    are skipped; the rest (matches, updates, deletes) go through the single-record path.
    """
    ctx = _ctx(organization, provider, account_id, connection_id)
    by_id = {r.external_id: r for r in records}  # a record listed twice: the last one wins
    return _with_retry(ctx, lambda: _apply_page(ctx, list(by_id.values())), f"page:{len(by_id)}")


def _apply_page(ctx: _Ctx, records: list[RemoteRecord]) -> PageResult:
    result = PageResult()
    links = {
        link.external_id: link
        for link in ExternalIdentity.objects.filter(
            provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type,
        ).filter(any_of("external_id", [r.external_id for r in records]))
    }
    slow: list[RemoteRecord] = []
    fresh: list[tuple[RemoteRecord, dict[str, Any]]] = []
    for record in records:
        link = links.get(record.external_id)
        if link is not None:
            remote_hash = record.remote_hash or content_hash(record.remote)
            if not record.deleted and is_echo(link=link, remote_hash=remote_hash):
                result.counts["unchanged"] += 1
            else:
                _note_refused(result, record.external_id, record.refused)
                slow.append(record)
        elif record.deleted:
            result.counts["unchanged"] += 1
        else:
            cleaned, errors = _clean_remote(ctx.organization, record.remote)
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
            new.append((record, cleaned, new_contact_row(cleaned, lambda c: _new_contact(ctx, c)) if use_copy
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
            ExternalIdentity.objects.bulk_create([
                ExternalIdentity(object_id=pk, **_link_values(ctx, r, cleaned, now))
                for pk, (r, cleaned, _) in zip(ids, new, strict=True)])
        all_fields = set().union(*(_created_fields(cleaned) for _, cleaned, _ in new))
        outbox_record_created_ids(model=Contact, organization_id=ctx.organization.pk, ids=ids, fields=all_fields)
        result.counts["created"] += len(ids)
    for record in slow:
        try:
            with transaction.atomic():
                result.add(_apply_one(ctx, record))
        except (ValidationError, ValueError) as exc:
            result.counts["failed"] += 1
            result.errors[record.external_id] = str(exc)
            logger.warning("crm.sync.apply.failed", extra={"external_id": record.external_id, "error": str(exc)})
    return result


def _valid_new_contact(ctx: _Ctx, cleaned: dict[str, Any]) -> Contact:
    contact = _new_contact(ctx, cleaned)
    contact.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
    return contact


def _link_values(ctx: _Ctx, record: RemoteRecord, cleaned: dict[str, Any], now) -> dict[str, Any]:
    """A new link's column values, all but ``object_id`` (and the timestamps Django fills)."""
    return {
        "organization_id": ctx.organization.pk, "provider": ctx.provider, "account_id": ctx.account_id,
        "connection_id": ctx.connection_id, "content_type_id": ctx.content_type.pk,
        "external_id": record.external_id, "content_hash": record.remote_hash or content_hash(record.remote),
        "remote_updated_at": record.remote_updated_at, "last_synced_at": now,
        "synced_snapshot": {k: canonical(v) for k, v in cleaned.items()},
    }


def contacts_with_additional_ids(contacts: QuerySet) -> QuerySet:
    """The contacts with additional emails or phones: the condition of the partial index
    ``crm_contact_org_more_ids``, written the same way so PostgreSQL uses it rather than reading every contact."""
    return contacts.exclude(additional_emails=[], additional_phones=[])


def _note_refused(result: PageResult, external_id: str, refused: dict[str, str]) -> None:
    """Values the mapping or validation refused are not stored; say so per record (the run keeps them)."""
    if refused:
        result.errors[external_id] = "; ".join(f"{k}: {v}" for k, v in refused.items())


def _bulk_match(ctx: _Ctx, cleaned_list: list[dict[str, Any]]) -> list[int | None]:
    """For each cleaned record, the id of an unlinked local contact it matches (two queries in all)."""
    emails = {c["email"] for c in cleaned_list if c.get("email")}
    phones = {c["phone"] for c in cleaned_list if c.get("phone")}
    if not emails and not phones:
        return [None] * len(cleaned_list)
    base = Contact.objects.for_org(ctx.organization).active()
    # Two selects, not one with OR: each joins its values through its own index.
    by_email_qs = base.filter(any_of("email", emails)).order_by().values_list("id", "email", "phone")
    by_phone_qs = base.filter(any_of("phone", phones)).order_by().values_list("id", "email", "phone")
    primary = sorted(set(by_email_qs.union(by_phone_qs)), reverse=True)
    extra = list(
        contacts_with_additional_ids(base).order_by("-id").values_list("id", "additional_emails", "additional_phones")
    )
    # Only unlinked contacts may be matched. Checking the few candidates is one small query, rather than
    # excluding every linked id of the account in SQL on every page.
    candidates = {row[0] for row in primary} | {row[0] for row in extra}
    linked = set(
        ExternalIdentity.objects.filter(
            provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type,
        ).filter(any_of("object_id", candidates)).values_list("object_id", flat=True)
    ) if candidates else set()
    primary = [row for row in primary if row[0] not in linked]
    extra = [row for row in extra if row[0] not in linked]
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    for pk, email, phone in primary:  # descending, so the oldest contact ends up in the map
        by_email[email] = pk
        by_phone[phone] = pk
    extra_email: dict[str, int] = {}
    extra_phone: dict[str, int] = {}
    for pk, more_emails, more_phones in extra:
        for e in more_emails or []:
            extra_email[e] = pk
        for p in more_phones or []:
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
