"""After a write: wait (bounded) for the sync engine to push it and the remote (GHL) to confirm it.

This is the only module of `agents` that reads the sync engine's tables (`crm.sync`), so that the engine's
reorganisation has one place to re-point. A local write records an outbox entry in its own transaction; after
the commit the provider's notifier queues the push at once, and this module polls the entry until it is done
(answer: `confirmed`, with the remote ids) or the wait runs out (answer: `queued`, and the outbox delivers
later). Agents never call the GHL client.
"""
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from crm.models import ExternalIdentity
from crm.sync.models import OutboxEntry
from crm.sync.targets import sync_targets_for
from tenancy.models import Organization

from .errors import ToolError

DEFAULT_CONFIRM_SECONDS = 4.0
OPEN = (OutboxEntry.Status.PENDING, OutboxEntry.Status.IN_PROGRESS, OutboxEntry.Status.FAILED)


@dataclass
class PushResult:
    status: str  # confirmed | queued | rejected
    remote_ids: dict[str, str] = field(default_factory=dict)  # provider -> remote id
    error: str = ""


def confirm_seconds() -> float:
    return float(getattr(settings, "AGENT_WRITE_CONFIRM_SECONDS", DEFAULT_CONFIRM_SECONDS))


def write_targets_require(*, organization: Organization) -> list[tuple[str, str]]:
    """The accounts a write will be pushed to; `not_connected` when there are none."""
    targets = sync_targets_for(organization.pk)
    if not targets:
        raise ToolError("not_connected", "GoHighLevel is not connected for this organization (or its contact "
                        "sync is switched off), so a change could not reach it.",
                        hint="Ask the organization's owner to connect GoHighLevel on the settings page; reads "
                             "still work.")
    return targets


def remote_ids_for(*, obj: models.Model) -> dict[str, str]:
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    links = ExternalIdentity.objects.for_org(obj.organization_id).filter(content_type=ct, object_id=obj.pk)
    return {link.provider: link.external_id for link in links}


def push_wait(*, obj: models.Model, since, timeout: float | None = None) -> PushResult:
    """Wait until no outbox entry of `obj` is open, at most `timeout` seconds (default AGENT_WRITE_CONFIRM_SECONDS).

    `since` is when the write started: an entry that went dead after it means the remote refused the change.
    """
    timeout = confirm_seconds() if timeout is None else timeout
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    entries = OutboxEntry.objects.for_org(obj.organization_id).filter(content_type=ct, object_id=obj.pk)
    deadline = time.monotonic() + timeout
    interval = 0.01
    while True:
        still_open = list(entries.filter(status__in=OPEN).values_list("status", "last_error"))
        if not still_open or time.monotonic() >= deadline:
            break
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)
    if still_open:
        errors = [error for status, error in still_open if status == OutboxEntry.Status.FAILED and error]
        return PushResult("queued", remote_ids_for(obj=obj), errors[0] if errors else "")
    dead = entries.filter(status=OutboxEntry.Status.DEAD, updated_at__gte=since).values_list("last_error", flat=True)
    dead = list(dead[:1])
    if dead:
        return PushResult("rejected", remote_ids_for(obj=obj), dead[0])
    return PushResult("confirmed", remote_ids_for(obj=obj))


def outbox_request_ids(*, organization_id: int, entry_ids: list[int]) -> list[str]:
    """The remote request ids the pushes of these entries have made so far, in entry order."""
    rows = (OutboxEntry.objects.for_org(organization_id).filter(pk__in=entry_ids).order_by("pk")
            .values_list("request_ids", flat=True))
    return list(dict.fromkeys(i for ids in rows for i in (ids or [])))


def now():
    return timezone.now()
