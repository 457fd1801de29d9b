"""Inbound in bulk: apply a page of remote contacts (initial pull, reconciliation) with few queries.

New records with no local match are bulk-inserted (contacts, then links); linked records whose content
hash is unchanged are skipped; matches, updates and deletes go through the single-record path of
`inbound.py`, inside the same transaction.
"""
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tenancy.models import Organization

from ..models import Contact, ExternalIdentity
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
from .outbox import is_echo, outbox_record_created

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
            external_id__in=[r.external_id for r in records],
        )
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
                slow.append(record)
        elif record.deleted:
            result.counts["unchanged"] += 1
        else:
            cleaned, errors = _clean_remote(ctx.organization, record.remote)
            if errors:
                result.errors[record.external_id] = "; ".join(f"{k}: {v}" for k, v in errors.items())
            fresh.append((record, cleaned))
    matched = _bulk_match(ctx, [c for _, c in fresh])
    new: list[tuple[RemoteRecord, dict[str, Any], Contact]] = []
    for (record, cleaned), match in zip(fresh, matched, strict=True):
        if match:
            slow.append(record)
            continue
        contact = _new_contact(ctx, cleaned)
        try:
            contact.full_clean(exclude=["organization"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            result.counts["failed"] += 1
            result.errors[record.external_id] = str(exc.message_dict)
            continue
        new.append((record, cleaned, contact))
    if new:
        created = Contact.objects.bulk_create([c for _, _, c in new])
        now = timezone.now()
        ExternalIdentity.objects.bulk_create([
            ExternalIdentity(
                organization_id=c.organization_id, provider=ctx.provider, account_id=ctx.account_id,
                connection_id=ctx.connection_id, content_type=ctx.content_type, object_id=c.pk,
                external_id=r.external_id, content_hash=r.remote_hash or content_hash(r.remote),
                remote_updated_at=r.remote_updated_at, last_synced_at=now,
                synced_snapshot={k: canonical(v) for k, v in cleaned.items()},
            )
            for (r, cleaned, _), c in zip(new, created, strict=True)
        ])
        all_fields = set().union(*(_created_fields(cleaned) for _, cleaned, _ in new))
        outbox_record_created(objs=created, fields=all_fields)
        result.counts["created"] += len(created)
    for record in slow:
        try:
            with transaction.atomic():
                result.add(_apply_one(ctx, record))
        except (ValidationError, ValueError) as exc:
            result.counts["failed"] += 1
            result.errors[record.external_id] = str(exc)
            logger.warning("crm.sync.apply.failed", extra={"external_id": record.external_id, "error": str(exc)})
    return result


def _bulk_match(ctx: _Ctx, cleaned_list: list[dict[str, Any]]) -> list[int | None]:
    """For each cleaned record, the id of an unlinked local contact it matches (two queries in all)."""
    emails = {c["email"] for c in cleaned_list if c.get("email")}
    phones = {c["phone"] for c in cleaned_list if c.get("phone")}
    if not emails and not phones:
        return [None] * len(cleaned_list)
    base = Contact.objects.for_org(ctx.organization).active()
    primary = list(
        base.filter(Q(email__in=emails) | Q(phone__in=phones)).order_by("-id").values_list("id", "email", "phone")
    )
    extra = list(
        base.exclude(additional_emails=[], additional_phones=[])
        .order_by("-id")
        .values_list("id", "additional_emails", "additional_phones")
    )
    # Only unlinked contacts may be matched. Checking the few candidates is one small query, rather than
    # excluding every linked id of the account in SQL on every page.
    candidates = {row[0] for row in primary} | {row[0] for row in extra}
    linked = set(
        ExternalIdentity.objects.filter(
            provider=ctx.provider, account_id=ctx.account_id, content_type=ctx.content_type,
            object_id__in=candidates,
        ).values_list("object_id", flat=True)
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
