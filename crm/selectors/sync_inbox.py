"""The owner's conflicts and errors inbox: what sync decided on its own, and what it could not send or store."""
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from tenancy.models import Organization

from ..models import Contact, ExternalIdentity
from ..sync.models import FieldMapping, OutboxEntry, SyncConflict, SyncRun

INBOX_DAYS = 30
INBOX_LIMIT = 50
REFUSAL_RUNS = 20


@dataclass
class Refusal:
    contact: Contact | None
    reason: str
    at: Any
    source: str  # "push" (could not send), "pull" (could not store), "mapping" (the field's last error)
    entry: OutboxEntry | None = None
    remote_id: str = ""


@dataclass
class SyncInbox:
    conflicts: list[tuple[SyncConflict, Contact | None]]
    refusals: list[Refusal]

    @property
    def is_empty(self) -> bool:
        return not self.conflicts and not self.refusals


def sync_inbox(*, organization: Organization) -> SyncInbox:
    """Contact conflicts of the last 30 days (newest first, with their contact) and refused values: pushes GHL
    refused or that keep failing, values a pull refused, and mapping rows' last errors. Bounded queries."""
    content_type = ContentType.objects.get_for_model(Contact)
    since = timezone.now() - timedelta(days=INBOX_DAYS)
    conflicts = list(SyncConflict.objects.for_org(organization).filter(
        content_type=content_type, decided_at__gte=since).order_by("-decided_at", "-id")[:INBOX_LIMIT])
    entries = list(OutboxEntry.objects.for_org(organization).filter(
        content_type=content_type, status__in=[OutboxEntry.Status.FAILED, OutboxEntry.Status.DEAD],
    ).order_by("-updated_at", "-id")[:INBOX_LIMIT])
    samples = []
    for run in SyncRun.objects.for_org(organization).filter(refused__gt=0, started_at__gte=since).order_by(
            "-started_at").only("started_at", "refusal_samples", "account_id", "provider")[:REFUSAL_RUNS]:
        samples += [(run, sample) for sample in run.refusal_samples or [] if sample.get("external_id")]
    remote_ids = {sample["external_id"] for _, sample in samples}
    by_remote = dict(ExternalIdentity.objects.for_org(organization).filter(
        content_type=content_type, external_id__in=remote_ids).values_list("external_id", "object_id"))
    names = _contacts(organization, {c.object_id for c in conflicts} | {e.object_id for e in entries}
                      | set(by_remote.values()))
    refusals = [Refusal(names.get(e.object_id), e.last_error or e.get_status_display(), e.updated_at, "push", e)
                for e in entries]
    refusals += [Refusal(names.get(by_remote.get(sample["external_id"])), sample.get("error", ""), run.started_at,
                         "pull", remote_id=sample["external_id"]) for run, sample in samples]
    for row in FieldMapping.objects.for_org(organization).exclude(last_error="").order_by("-last_error_at")[
            :INBOX_LIMIT]:
        refusals.append(Refusal(None, f"{row.remote_label or row.remote_key} → {row.local_field}: {row.last_error}",
                                row.last_error_at, "mapping"))
    refusals.sort(key=lambda r: r.at or since, reverse=True)
    return SyncInbox(conflicts=[(c, names.get(c.object_id)) for c in conflicts], refusals=refusals)


def _contacts(organization: Organization, ids: set[int]) -> dict[int, Contact]:
    ids.discard(None)
    return {c.pk: c for c in Contact.objects.for_org(organization).filter(pk__in=ids)} if ids else {}
