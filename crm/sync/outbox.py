"""The outbox: local changes recorded in the writing transaction, pushed later by a provider worker.

Write side (called by `crm` services, never by providers): `outbox_record`.
Worker side (called by the provider's push task): `outbox_claim_batch`, `outbox_mark_done`,
`outbox_mark_failed`, `outbox_requests_noted`. Echo side (called by inbound apply): `is_echo`.

Tracing (who asked, which requests did it): a write made inside `outbox_caused_by(tag)` stamps its entries with
`tag` (kept through coalescing and superseding); `outbox_entries_recorded()` collects the ids of the entries a
block recorded. The push worker reports the remote's request ids of each entry's push with
`outbox_requests_noted`, which stores them on the entry and, after commit, sends `outbox_requests_sent`
(keyword arguments `organization_id`, `entry_id`, `causes`, `request_ids`) for entries that have causes, so
whoever stamped them (the agents' audit) can add the ids to its own record.
"""
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.dispatch import Signal
from django.utils import timezone

from ..models import ExternalIdentity
from .hashing import canonical, content_hash
from .kinds import kind_for_model, object_type_for
from .marks import advance_group_marks
from .models import OutboxEntry
from .origin import current_origin
from .targets import sync_targets_for

logger = logging.getLogger(__name__)

MAX_PUSH_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
DEFAULT_LEASE_SECONDS = 300

MAX_CAUSES = 20  # a record edited by many calls before one push keeps the first ones
MAX_NOTED_REQUEST_IDS = 20  # per push attempt

Status = OutboxEntry.Status

outbox_requests_sent = Signal()
_causes: ContextVar[tuple[str, ...]] = ContextVar("crm_outbox_causes", default=())
_recorded: ContextVar[tuple[list[int], ...]] = ContextVar("crm_outbox_recorded", default=())


@contextmanager
def outbox_caused_by(tag: str) -> Iterator[None]:
    """Stamp every entry recorded inside the block with ``tag`` (an opaque string naming who asked). Nests."""
    token = _causes.set((*_causes.get(), tag))
    try:
        yield
    finally:
        _causes.reset(token)


@contextmanager
def outbox_entries_recorded() -> Iterator[list[int]]:
    """Collect the ids of the entries recorded (created or merged into) inside the block. Nests."""
    ids: list[int] = []
    token = _recorded.set((*_recorded.get(), ids))
    try:
        yield ids
    finally:
        _recorded.reset(token)


def _note_recorded(entry_id: int) -> None:
    for ids in _recorded.get():
        if entry_id not in ids:
            ids.append(entry_id)


def _merged_causes(existing: list | None, new: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*(existing or []), *new]))[:MAX_CAUSES]

# provider → fn(account_id), called after the commit of a transaction that recorded entries for it.
PushNotifier = Callable[[str], None]
_push_notifiers: dict[str, PushNotifier] = {}


def register_push_notifier(provider: str, fn: PushNotifier) -> None:
    """Have ``fn(account_id)`` called after commit whenever entries for ``provider`` are recorded.

    The provider queues its push worker from it (latency: no waiting for the next sweep). It runs in the
    committing process, after the commit, so it **must** be quick (queue a task, never call the remote)
    and must not raise. Registering a provider twice replaces the previous notifier (idempotent wiring).
    """
    _push_notifiers[provider] = fn


def unregister_push_notifier(provider: str) -> None:
    _push_notifiers.pop(provider, None)


def _notify_on_commit(targets: Iterable[tuple[str, str]]) -> None:
    for provider, account_id in set(targets):
        fn = _push_notifiers.get(provider)
        if fn is None:
            continue

        def notify(fn=fn, account_id=account_id, provider=provider):
            try:
                fn(account_id)
            except Exception as exc:  # the entry is committed; the periodic sweep pushes it anyway
                # One line with context, no traceback: an outage would otherwise log ~100 lines per write.
                logger.warning("crm.sync.outbox.notify-failed",
                               extra={"provider": provider, "account_id": account_id,
                                      "error": f"{type(exc).__name__}: {exc}"})

        transaction.on_commit(notify)


def backoff_seconds(attempts: int) -> int:
    """30 s, 60 s, 120 s, … capped at 6 h: the wait after the `attempts`-th failed push."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))


def _merge_fields(existing: Iterable[str], new: Iterable[str]) -> list[str]:
    return sorted(set(existing) | set(new))


def _stamped(existing: dict | None, fields: list[str], edited_at: str | None) -> dict | None:
    if edited_at is None:
        return existing
    return {**(existing or {}), **dict.fromkeys(fields, edited_at)}


def _record_one(*, organization_id: int, content_type: ContentType, object_id: int, provider: str,
                account_id: str, fields: list[str], edited_at: str | None) -> OutboxEntry:
    key = dict(provider=provider, account_id=account_id, content_type=content_type, object_id=object_id)
    for _ in range(3):
        # Lock the open entry so a concurrent edit merges instead of losing fields; a worker that has it
        # claimed has already moved it to in_progress, so we then start a new entry (pushed after it).
        open_entry = (
            OutboxEntry.objects.select_for_update()
            .filter(status__in=[Status.PENDING, Status.FAILED], **key)
            .first()
        )
        causes = _causes.get()
        if open_entry is not None:
            open_entry.changed_fields = _merge_fields(open_entry.changed_fields, fields)
            open_entry.field_changed_at = _stamped(open_entry.field_changed_at, fields, edited_at)
            open_entry.change_count += 1
            update = ["changed_fields", "field_changed_at", "change_count", "updated_at"]
            if causes:
                open_entry.causes = _merged_causes(open_entry.causes, causes)
                update.append("causes")
            open_entry.save(update_fields=update)
            _note_recorded(open_entry.pk)
            return open_entry
        try:
            with transaction.atomic():
                entry = OutboxEntry.objects.create(organization_id=organization_id, changed_fields=sorted(fields),
                                                   field_changed_at=_stamped(None, fields, edited_at),
                                                   causes=list(causes), **key)
            _note_recorded(entry.pk)
            return entry
        except IntegrityError:
            # A concurrent transaction opened the entry first; merge into it on the next pass.
            logger.info("crm.sync.outbox.concurrent-open", extra={"object_id": object_id, "account_id": account_id})
    raise RuntimeError("could not record outbox entry after 3 attempts")


def outbox_record(
    *, obj: models.Model, fields: Iterable[str], targets: list[tuple[str, str]] | None = None,
    local_edit: bool = True,
) -> list[OutboxEntry]:
    """Queue a push of ``fields`` of ``obj`` to every sync target, inside the caller's transaction.

    Targets default to the registered resolvers' answer for ``obj``'s kind (`object_type_for`) minus the
    current `SyncOrigin`'s account (echo suppression, part 1). Pass ``targets`` to push to exactly those
    accounts (e.g. "local value wins" after a conflict must go back to the account the change came from).
    ``local_edit`` stamps each field with now as its edit time (for "newest wins"); sync's own re-pushes
    pass False, the value is not newer.
    """
    fields = [f for f in fields]
    if not fields:
        return []
    if targets is None:
        origin = current_origin()
        targets = [t for t in sync_targets_for(obj.organization_id, object_type=object_type_for(obj))
                   if origin is None or t != origin.target]
    if not targets:
        return []
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    edited_at = timezone.now().isoformat() if local_edit else None
    with transaction.atomic():
        _notify_on_commit(targets)
        return [
            _record_one(organization_id=obj.organization_id, content_type=content_type, object_id=obj.pk,
                        provider=provider, account_id=account_id, fields=fields, edited_at=edited_at)
            for provider, account_id in targets
        ]


def outbox_record_created_ids(*, model: type[models.Model], organization_id: int, ids: list[int],
                              fields: Iterable[str],
                              sync_targets: Callable[[], list[tuple[str, str]]] | None = None) -> int:
    """Queue the creation of rows just written in bulk (they cannot have open entries): one INSERT per page.
    Takes ids, not instances: the COPY path writes rows without building model objects. ``sync_targets``
    replaces `sync_targets_for` (a run's `SyncTargetsCache`)."""
    if not ids:
        return 0
    origin = current_origin()
    all_targets = sync_targets() if sync_targets is not None else sync_targets_for(
        organization_id, object_type=object_type_for(model))
    targets = [t for t in all_targets if origin is None or t != origin.target]
    if not targets:
        return 0
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=True)
    fields = sorted(fields)
    causes = list(_causes.get())
    rows = [
        OutboxEntry(organization_id=organization_id, provider=p, account_id=a, content_type=content_type,
                    object_id=pk, changed_fields=fields, causes=causes)
        for pk in ids for p, a in targets
    ]
    OutboxEntry.objects.bulk_create(rows)
    if _recorded.get():
        for row in rows:
            _note_recorded(row.pk)
    _notify_on_commit(targets)
    return len(rows)


def outbox_discard_fields(*, obj: models.Model, fields: Iterable[str], target: tuple[str, str]) -> None:
    """Drop ``fields`` from the open (not yet claimed) entry for ``target``: the remote's value won, so
    there is nothing of ours left to push for them. An entry left with no fields is superseded."""
    drop = set(fields)
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    entry = (
        OutboxEntry.objects.select_for_update()
        .filter(provider=target[0], account_id=target[1], content_type=content_type, object_id=obj.pk,
                status__in=[Status.PENDING, Status.FAILED])
        .first()
    )
    if entry is None or not drop & set(entry.changed_fields):
        return
    entry.changed_fields = sorted(set(entry.changed_fields) - drop)
    if not entry.changed_fields:
        entry.status = Status.SUPERSEDED
        entry.finished_at = timezone.now()
    entry.save(update_fields=["changed_fields", "status", "finished_at", "updated_at"])


def outbox_claim_batch(
    *, provider: str, account_id: str, limit: int = 50, lease_seconds: int = DEFAULT_LEASE_SECONDS,
    content_type_ids: Iterable[int] | None = None,
) -> list[OutboxEntry]:
    """Claim up to ``limit`` due entries for one account, oldest sequence first, and commit the claim.

    ``content_type_ids``: claim only entries of these kinds (the ones the worker has a pusher for; the
    others stay pending, see `outbox_hold_unhandled`). None claims every kind.

    Due means: pending, or failed with ``next_attempt_at`` passed, or in progress with an expired lease (a
    worker died mid-push). Rows are locked with ``SKIP LOCKED``, so concurrent workers never claim the
    same entry; an object with an entry under a live lease is skipped so pushes stay in order per object.
    The caller **must** finish each entry with `outbox_mark_done` or `outbox_mark_failed` before
    ``claimed_until``; otherwise it becomes claimable again (at-least-once delivery).
    """
    now = timezone.now()
    live_sibling = OutboxEntry.objects.filter(
        provider=provider, account_id=account_id, content_type=OuterRef("content_type"),
        object_id=OuterRef("object_id"), status=Status.IN_PROGRESS, claimed_until__gte=now,
    ).exclude(pk=OuterRef("pk"))
    due = Q(status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now) | Q(
        status=Status.IN_PROGRESS, claimed_until__lt=now
    )
    kinds = Q() if content_type_ids is None else Q(content_type_id__in=list(content_type_ids))
    with transaction.atomic():
        entries = list(
            OutboxEntry.objects.select_for_update(skip_locked=True)
            .filter(due, kinds, provider=provider, account_id=account_id)
            .filter(~Exists(live_sibling))
            .order_by("id")[:limit]
        )
        claimed_until = now + timedelta(seconds=lease_seconds)
        seen: set[tuple[int, int]] = set()
        claimed = []
        for entry in entries:
            key = (entry.content_type_id, entry.object_id)
            if key in seen:  # an expired older entry and a newer one: push the older first
                continue
            seen.add(key)
            entry.status = Status.IN_PROGRESS
            entry.claimed_until = claimed_until
            entry.attempts += 1
            entry.updated_at = now  # bulk_update does not apply auto_now
            claimed.append(entry)
        OutboxEntry.objects.bulk_update(claimed, ["status", "claimed_until", "attempts", "updated_at"])
    return claimed


def outbox_hold_unhandled(*, provider: str, handled_content_type_ids: Iterable[int], reason: str,
                          account_id: str | None = None) -> dict[str, int]:
    """Leave the due open entries of kinds the worker cannot push (no pusher yet) pending, and say why.

    They are never failed or dead: a later release registers their kind's pusher and the first drain after
    it pushes them. ``reason`` is written to their ``last_error`` (admin shows it) unless already there.
    Returns ``{model label: entries held}`` for the worker's log line; empty when there are none.
    """
    held = (
        OutboxEntry.objects.filter(provider=provider, status__in=[Status.PENDING, Status.FAILED],
                                   next_attempt_at__lte=timezone.now())
        .exclude(content_type_id__in=list(handled_content_type_ids))
    )
    if account_id is not None:
        held = held.filter(account_id=account_id)
    by_kind = held.order_by().values("content_type").annotate(n=models.Count("id"))
    counts = {row["content_type"]: row["n"] for row in by_kind}
    if not counts:
        return {}
    held.exclude(last_error=reason).update(last_error=reason[:4000])
    labels = {ct.pk: f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.filter(pk__in=counts)}
    return {labels.get(pk, str(pk)): n for pk, n in counts.items()}


def outbox_mark_done(
    *,
    entry: OutboxEntry,
    remote_id: str | None = None,
    content_hash: str = "",
    remote_values: dict[str, Any] | None = None,
    connection_id: int | None = None,
    remote_updated_at: datetime | None = None,
    remote_changed: bool = True,
    remote_values_partial: bool = False,
) -> OutboxEntry:
    """Record a successful push (echo suppression, part 2).

    ``remote_id``: the external id the remote returned (links the object when it was a create).
    ``remote_values``: the pushed/returned state in local terms (``Mapping.to_local(response)``); it
    becomes the three-way base (`ExternalIdentity.synced_snapshot`) and, when ``content_hash`` is not
    given, its hash is stored so the webhook echoing this push is recognised by `is_echo`.
    ``remote_updated_at``: the remote's modification time from the response; it moves the watermark, so
    a webhook about a state *older* than our push, arriving late, is dropped as stale.
    ``remote_changed`` (default): the push wrote to the remote, so the link's ``remote_seen_at`` is cleared
    until the echo of this write comes back; False when nothing was sent.
    ``remote_values_partial``: ``remote_values`` hold only some fields (a tags-only push): they update the
    base, and the content hash of the last full state stays.
    """
    from ..services.external_ids import external_id_link

    now = timezone.now()
    with transaction.atomic():
        entry = OutboxEntry.objects.select_for_update().get(pk=entry.pk)
        entry.status = Status.DONE
        entry.finished_at = now
        entry.claimed_until = None
        entry.last_error = ""
        if remote_id:
            entry.remote_id = remote_id
        entry.save(update_fields=["status", "finished_at", "claimed_until", "last_error", "remote_id", "updated_at"])
        link = ExternalIdentity.objects.select_for_update().filter(
            provider=entry.provider, account_id=entry.account_id, content_type_id=entry.content_type_id,
            object_id=entry.object_id,
        ).first()
        if link is None and remote_id:
            obj = entry.content_type.get_object_for_this_type(pk=entry.object_id)
            link = external_id_link(obj=obj, provider=entry.provider, account_id=entry.account_id,
                                    external_id=remote_id, connection_id=connection_id)
        if link is not None:
            if remote_values is not None:
                link.synced_snapshot = {**(link.synced_snapshot or {}), **canonical(remote_values)}
                if not remote_values_partial:
                    content_hash = content_hash or _hash(remote_values)
            if content_hash:
                link.content_hash = content_hash
            link.last_synced_at = now
            if connection_id is not None:
                link.connection_id = connection_id
            if remote_updated_at and (link.remote_updated_at is None or remote_updated_at > link.remote_updated_at):
                link.remote_updated_at = remote_updated_at
            kind = kind_for_model(entry.content_type.model_class()) if remote_values else None
            if kind is not None and kind.mark_groups:
                # The response's separately ordered groups (per-channel DND) are as new as the response: an older
                # event of theirs, arriving late, must not undo what was just pushed.
                advance_group_marks(link, kind.groups_in(remote_values), remote_updated_at)
            if remote_changed:
                link.remote_seen_at = None
            link.save(update_fields=["synced_snapshot", "content_hash", "last_synced_at", "connection_id",
                                     "remote_updated_at", "group_marks", "remote_seen_at", "updated_at"])
    return entry


def _hash(values: dict[str, Any]) -> str:
    return content_hash(values)


def outbox_mark_failed(*, entry: OutboxEntry, error: str, retryable: bool = True) -> OutboxEntry:
    """Record a failed push: retried with exponential backoff, or ``dead`` when not retryable / exhausted.

    Retry only what can succeed later (timeouts, 5xx, 429); a 4xx is ``retryable=False``. If a newer entry
    for the same object was opened meanwhile, this one's fields merge into it and it is ``superseded``.
    """
    now = timezone.now()
    with transaction.atomic():
        entry = OutboxEntry.objects.select_for_update().get(pk=entry.pk)
        entry.last_error = str(error)[:4000]
        entry.claimed_until = None
        if not retryable or entry.attempts >= MAX_PUSH_ATTEMPTS:
            entry.status = Status.DEAD
            entry.finished_at = now
            logger.warning("crm.sync.outbox.dead", extra={"entry_id": entry.pk, "error": entry.last_error})
        else:
            newer = (
                OutboxEntry.objects.select_for_update()
                .filter(provider=entry.provider, account_id=entry.account_id, content_type_id=entry.content_type_id,
                        object_id=entry.object_id, status__in=[Status.PENDING, Status.FAILED])
                .exclude(pk=entry.pk)
                .first()
            )
            if newer is not None:
                newer.changed_fields = _merge_fields(newer.changed_fields, entry.changed_fields)
                newer.change_count += entry.change_count
                newer.causes = _merged_causes(newer.causes, entry.causes)
                newer.save(update_fields=["changed_fields", "change_count", "causes", "updated_at"])
                entry.status = Status.SUPERSEDED
                entry.finished_at = now
            else:
                entry.status = Status.FAILED
                entry.next_attempt_at = now + timedelta(seconds=backoff_seconds(entry.attempts))
        entry.save(update_fields=["status", "last_error", "claimed_until", "next_attempt_at", "finished_at",
                                  "updated_at"])
    return entry


def outbox_requests_noted(*, entry: OutboxEntry, request_ids: Iterable[str]) -> None:
    """Record the remote's ids of the requests one push attempt of ``entry`` made (success or failure).

    When the entry has causes, `outbox_requests_sent` follows the commit so the causes' owners
    (e.g. an agent's audit row) get the ids too. A failing receiver is logged and changes nothing here.
    """
    ids = [str(i) for i in dict.fromkeys(request_ids) if i][:MAX_NOTED_REQUEST_IDS]
    if not ids:
        return
    with transaction.atomic():
        row = (OutboxEntry.objects.select_for_update().filter(pk=entry.pk)
               .values("organization_id", "request_ids", "causes").first())
        if row is None:
            return
        OutboxEntry.objects.filter(pk=entry.pk).update(request_ids=[*(row["request_ids"] or []), *ids])
    organization_id, causes = row["organization_id"], row["causes"]
    if not causes:
        return

    def send() -> None:
        for receiver, result in outbox_requests_sent.send_robust(
                sender=OutboxEntry, organization_id=organization_id, entry_id=entry.pk, causes=list(causes),
                request_ids=ids):
            if isinstance(result, Exception):
                logger.warning("crm.sync.outbox.requests-receiver-failed",
                               extra={"entry_id": entry.pk, "receiver": getattr(receiver, "__qualname__", ""),
                                      "error": f"{type(result).__name__}: {result}"})

    transaction.on_commit(send)


def outbox_release(*, entry: OutboxEntry, reason: str = "", delay_seconds: float = 0) -> OutboxEntry:
    """Give a claimed entry back untouched: pending again, due now (or in ``delay_seconds``: the provider asked
    us to wait), the claim not counted as an attempt.

    For pushes that could not even start (the account was disconnected): nothing is lost and nothing is
    held against the entry. If a newer open entry exists, this one's fields merge into it (superseded).
    """
    with transaction.atomic():
        entry = OutboxEntry.objects.select_for_update().get(pk=entry.pk)
        if entry.status != Status.IN_PROGRESS:
            return entry
        newer = (
            OutboxEntry.objects.select_for_update()
            .filter(provider=entry.provider, account_id=entry.account_id, content_type_id=entry.content_type_id,
                    object_id=entry.object_id, status__in=[Status.PENDING, Status.FAILED])
            .exclude(pk=entry.pk)
            .first()
        )
        entry.claimed_until = None
        entry.attempts = max(0, entry.attempts - 1)
        entry.last_error = str(reason)[:4000]
        if newer is not None:
            newer.changed_fields = _merge_fields(newer.changed_fields, entry.changed_fields)
            newer.change_count += entry.change_count
            newer.causes = _merged_causes(newer.causes, entry.causes)
            newer.save(update_fields=["changed_fields", "change_count", "causes", "updated_at"])
            entry.status = Status.SUPERSEDED
            entry.finished_at = timezone.now()
        else:
            entry.status = Status.PENDING
            entry.next_attempt_at = timezone.now() + timedelta(seconds=delay_seconds)
        entry.save(update_fields=["status", "claimed_until", "attempts", "last_error", "next_attempt_at",
                                  "finished_at", "updated_at"])
    return entry


def outbox_retry_now(*, entry: OutboxEntry) -> OutboxEntry:
    """Staff action: make a failed or dead entry due now (attempts are kept for the record)."""
    if entry.status in (Status.FAILED, Status.DEAD):
        try:
            with transaction.atomic():
                OutboxEntry.objects.filter(pk=entry.pk).update(
                    status=Status.PENDING, next_attempt_at=timezone.now(), finished_at=None
                )
        except IntegrityError:  # a newer open entry exists: it carries the change already or will merge it
            logger.info("crm.sync.outbox.retry-merged", extra={"entry_id": entry.pk})
        entry.refresh_from_db()
    return entry


def is_echo(*, link: ExternalIdentity | None, remote_hash: str) -> bool:
    """True when ``remote_hash`` is the content we last pushed or applied for this link: our own echo."""
    return link is not None and hash_is_echo(linked_hash=link.content_hash, remote_hash=remote_hash)


def hash_is_echo(*, linked_hash: str | None, remote_hash: str) -> bool:
    """`is_echo` for a link known only by its content hash (a page reads just the hashes)."""
    return bool(linked_hash is not None and remote_hash and linked_hash == remote_hash)


def outbox_renew_claims(*, entries: Iterable[OutboxEntry], lease_seconds: float) -> int:
    """Extend the claim on entries a worker still holds (in progress, same attempt) by ``lease_seconds`` from
    now: a short lease renewed while work goes on frees a dead worker's batch soon. Returns how many."""
    claimed_until = timezone.now() + timedelta(seconds=lease_seconds)
    renewed = 0
    by_attempt: dict[int, list[int]] = {}
    for entry in entries:
        by_attempt.setdefault(entry.attempts, []).append(entry.pk)
    for attempts, ids in by_attempt.items():
        renewed += OutboxEntry.objects.filter(pk__in=ids, status=Status.IN_PROGRESS, attempts=attempts).update(
            claimed_until=claimed_until)
    return renewed
