"""Read side of sync: what the settings page and admin show."""
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q
from django.utils.dateparse import parse_datetime

from tenancy.models import Organization

from .models import OutboxEntry, SyncConflict, SyncRun


@dataclass(frozen=True)
class LocalEditTimes:
    """When each field of one local record was last edited here, for one account's pending push."""

    fallback: dt.datetime  # the record's last save: for fields edited before per-field times were kept
    by_field: dict[str, dt.datetime]

    def changed_at(self, field: str) -> dt.datetime:
        # Mapping names may be dotted ("custom_properties.x") while edits are recorded per model field.
        return self.by_field.get(field) or self.by_field.get(field.split(".")[0]) or self.fallback


def local_edit_times(*, obj, provider: str, account_id: str, content_type) -> LocalEditTimes:
    """Per-field local edit times from the entries not yet pushed to this account (their edits are the ones
    a conflict can be about); the latest time wins when several entries name a field."""
    by_field: dict[str, dt.datetime] = {}
    stamps = OutboxEntry.objects.filter(
        organization_id=obj.organization_id, provider=provider, account_id=account_id,
        content_type=content_type, object_id=obj.pk,
        status__in=[OutboxEntry.Status.PENDING, OutboxEntry.Status.FAILED, OutboxEntry.Status.IN_PROGRESS],
    ).exclude(field_changed_at=None).values_list("field_changed_at", flat=True)
    for entry_stamps in stamps:
        for field, iso in (entry_stamps or {}).items():
            at = parse_datetime(iso) if isinstance(iso, str) else None
            if at is not None and (field not in by_field or at > by_field[field]):
                by_field[field] = at
    return LocalEditTimes(fallback=obj.updated_at, by_field=by_field)


def outbox_unlinked_push_in_flight(*, organization: Organization, provider: str, account_id: str,
                                   content_type) -> bool:
    """Is a worker pushing, right now, an object that has no link in this account yet (i.e. creating it)?"""
    from django.utils import timezone

    from crm.models import ExternalIdentity

    linked = ExternalIdentity.objects.filter(provider=provider, account_id=account_id, content_type=content_type,
                                             object_id=OuterRef("object_id"))
    return OutboxEntry.objects.for_org(organization).filter(
        provider=provider, account_id=account_id, content_type=content_type,
        status=OutboxEntry.Status.IN_PROGRESS, claimed_until__gte=timezone.now(),
    ).filter(~Exists(linked)).exists()


def sync_status_summary(*, organization: Organization, provider: str | None = None,
                        account_id: str | None = None, object_type: str = "contact") -> list[dict[str, Any]]:
    """Per (provider, account): the latest run of each job kind for records of ``object_type`` (an
    opportunity reconciliation is not the contacts' one), outbox backlog and conflicts of the last 30 days.

    Returns ``[{"provider", "account_id", "runs": {kind: SyncRun}, "outbox": {"pending", "failed",
    "dead"}, "conflicts_30d"}]``. One query per (account, kind) plus two, whatever the history size.
    """
    from datetime import timedelta

    from django.utils import timezone

    runs = SyncRun.objects.for_org(organization).filter(object_type=object_type)
    if provider:
        runs = runs.filter(provider=provider)
    if account_id:
        runs = runs.filter(account_id=account_id)
    accounts: dict[tuple[str, str], dict[str, Any]] = {}
    latest_ids = (
        runs.order_by().values_list("provider", "account_id", "kind").distinct()
    )
    for prov, acct, kind in latest_ids:
        run = runs.filter(provider=prov, account_id=acct, kind=kind).order_by("-started_at", "-id").first()
        accounts.setdefault((prov, acct), _blank(prov, acct))["runs"][kind] = run
    outbox = OutboxEntry.objects.for_org(organization).values("provider", "account_id").annotate(
        pending=Count("id", filter=Q(status__in=["pending", "in_progress"])),
        failed=Count("id", filter=Q(status="failed")),
        dead=Count("id", filter=Q(status="dead")),
    )
    for row in outbox:
        key = (row["provider"], row["account_id"])
        if (provider and key[0] != provider) or (account_id and key[1] != account_id):
            continue
        accounts.setdefault(key, _blank(*key))["outbox"] = {k: row[k] for k in ("pending", "failed", "dead")}
    since = timezone.now() - timedelta(days=30)
    conflicts = SyncConflict.objects.for_org(organization).filter(decided_at__gte=since).values(
        "provider", "account_id").annotate(n=Count("id"))
    for row in conflicts:
        key = (row["provider"], row["account_id"])
        if key in accounts:
            accounts[key]["conflicts_30d"] = row["n"]
    return sorted(accounts.values(), key=lambda a: (a["provider"], a["account_id"]))


def _blank(provider: str, account_id: str) -> dict[str, Any]:
    return {"provider": provider, "account_id": account_id, "runs": {},
            "outbox": {"pending": 0, "failed": 0, "dead": 0}, "conflicts_30d": 0}
