"""The GHL push worker: drain one location's outbox, handing each entry to the pusher of its kind.

`outbox_push_pending(connection_id=)` claims batches from `crm.sync.outbox` (only kinds that have a pusher),
loads each entry's local object inside the entry's organisation and calls its kind's pusher. An entry of a
kind without a pusher is never claimed: it stays pending, its ``last_error`` says why, and the drain logs
``ghl.sync.push.no-pusher``; it is pushed by the first drain after its pusher is registered (never dead).

Pusher contract (one per kind of record; contacts: `ghl_integration.contacts.outbound.ContactPusher`)::

    class OpportunityPusher(KindPusher):
        model = Opportunity          # the kind's model; entries are matched by its content type
        noun = "opportunity"         # names the record in failure messages

        def push(self, entry, obj): ...

    # named by the kind's declaration (`opportunities/kind.py`), registered by `registry.ghl_kinds_register()`
    # from GhlIntegrationConfig.ready(); registering a model twice raises
    register_pusher(OpportunityPusher)

* A pusher is built once per drain, ``Pusher(drain)``; ``self.connection``, ``self.client``,
  ``self.location_id`` and ``self.stats`` (`PushStats`, shared by every kind of the drain) are set.
* ``push(entry, obj)`` **must** finish the entry: `outbox_mark_done` (with the remote id, the pushed values
  and the remote's modification time, see `crm/sync/README.md`) or ``self.fail(entry, error, retryable=)``,
  and count what it did in ``self.stats``. ``obj`` is the entry's local object (never None: an entry whose
  object no longer exists is failed by the engine). Deliveries are at least once: build the request from
  the object's *current* values, so a repeated push does no harm.
* ``push`` may raise the client's errors; the engine records them: `GhlValidationError` (4xx, then
  ``rejected(exc)`` is called so the pusher can name the mapped field) and `GhlNotFound` are not retried,
  `GhlAuthError`, 429, 5xx and network errors are retried with backoff, any other exception is retried and
  logged with its traceback. A database `OperationalError` (a deadlock with a concurrent apply) calls
  ``push`` once more. `ConnectionInactive` stops the drain and releases the claimed entries untouched.
"""
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, models
from django.db.models import Q
from django.utils import timezone

from crm.remote_calls import remote_calls_collected, remote_calls_within
from crm.services.external_ids import ExternalIdConflict
from crm.sync.locks import SyncBusy, sync_exclusive
from crm.sync.models import OutboxEntry
from crm.sync.outbox import (
    outbox_claim_batch,
    outbox_hold_unhandled,
    outbox_mark_failed,
    outbox_release,
    outbox_renew_claims,
    outbox_requests_noted,
)

from ..client import GhlApiError, GhlAuthError, GhlClient, GhlNotFound, GhlRateLimited, GhlValidationError
from ..client.base import RetryPolicy
from ..client.ratelimit import default_rate_limiter
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..provider import GHL
from .exclusive import location_job_name

logger = logging.getLogger(__name__)

PROVIDER = GHL.key
BATCH_SIZE = 50
DRAIN_BUDGET_SECONDS = 50  # one task run; what is left waits for the next notification or sweep
# A claimed batch is held this long, renewed every third of it while the drain works: a drain that dies (or
# loses its database) frees its batch for the next drain within a minute.
PUSH_LEASE_SECONDS = 45
PUSH_JOB = "push"  # the location lock's kind: one push drain per location at a time
# A push never sleeps off GHL's rate limit in its worker: a 429 (or no slot in our limiter within a second) stops
# the drain, gives its entries back due after the wait, and queues the next drain for then. Retries left are for
# short trouble (a 5xx, a reset), within a few seconds.
PUSH_RETRY = RetryPolicy(max_attempts=3, max_total_s=5.0, base_s=0.25, cap_s=2.0)
PUSH_SLOT_WAIT_SECONDS = 1.0
DEFAULT_RATE_WAIT_SECONDS = 10.0  # GHL's window, when it names no wait


class _RateLimitedStop(Exception):
    def __init__(self, retry_after: float):
        self.retry_after = retry_after


@dataclass
class PushStats:
    created: int = 0
    linked: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    released: int = 0
    conflicts: int = 0


class KindPusher(ABC):
    """Pushes one kind of record to GHL (the contract is in the module docstring)."""

    model: type[models.Model]
    noun: str = "record"

    def __init__(self, drain: "PushDrain"):
        self.drain = drain
        self.connection: GhlConnection = drain.connection
        self.client: GhlClient = drain.client
        self.location_id: str = drain.connection.location_id
        self.stats: PushStats = drain.stats

    @abstractmethod
    def push(self, entry: OutboxEntry, obj: models.Model) -> None:
        """Send ``entry``'s change of ``obj`` to GHL and finish the entry (done or `fail`)."""

    def rejected(self, exc: GhlValidationError, obj: models.Model | None = None) -> None:
        """Called when GHL refused ``obj`` (4xx); record which mapped field it named, if any."""
        return None  # a kind without a field mapping has nothing to record

    def fail(self, entry: OutboxEntry, error: str, *, retryable: bool) -> None:
        self.drain.fail(entry, error, retryable=retryable)


_pushers: dict[str, type[KindPusher]] = {}


def register_pusher(pusher: type[KindPusher]) -> None:
    """Push outbox entries of ``pusher.model`` with ``pusher``. Registering a model twice raises."""
    label = pusher.model._meta.label_lower
    if label in _pushers:
        raise ValueError(f"A GHL pusher is already registered for {label}")
    _pushers[label] = pusher


def unregister_pusher(model: type[models.Model]) -> None:
    _pushers.pop(model._meta.label_lower, None)


def pushers_by_content_type() -> dict[int, type[KindPusher]]:
    """{content type id: pusher} of every registered kind."""
    pushers = list(_pushers.values())
    types = ContentType.objects.get_for_models(*[p.model for p in pushers], for_concrete_models=True)
    return {types[p.model].pk: p for p in pushers}


def _hold_unhandled(*, handled: dict[int, type[KindPusher]], account_id: str | None = None) -> dict[str, int]:
    held = outbox_hold_unhandled(provider=PROVIDER, account_id=account_id, handled_content_type_ids=list(handled),
                                 reason="no GHL pusher is registered for this kind of record yet; kept pending")
    if held:
        logger.warning("ghl.sync.push.no-pusher", extra={"location_id": account_id, "pending_by_kind": held})
    return held


def _note_requests(entry: OutboxEntry, request_ids: list[str]) -> None:
    try:
        outbox_requests_noted(entry=entry, request_ids=request_ids)
    except Exception as exc:  # tracing must never change a push's outcome (nor hide its own exception)
        logger.warning("ghl.sync.push.request-ids-not-noted",
                       extra={"entry_id": entry.pk, "error": f"{type(exc).__name__}: {exc}"})


class PushDrain:
    """One drain of one connection's outbox: the client, the kinds' pushers and the counters they share."""

    def __init__(self, connection: GhlConnection, client: GhlClient, pushers: dict[int, type[KindPusher]]):
        self.connection = connection
        self.client = client
        self.stats = PushStats()
        self._pusher_types = pushers
        self._pushers: dict[int, KindPusher] = {}

    def pusher_for(self, content_type_id: int) -> KindPusher:
        if content_type_id not in self._pushers:  # built on first use: a kind's setup may cost a query
            self._pushers[content_type_id] = self._pusher_types[content_type_id](self)
        return self._pushers[content_type_id]

    def push(self, entry: OutboxEntry) -> None:
        # GHL's traceIds of this entry's requests go on the entry (and, through its causes, to the agent tool
        # call that asked for the change), whatever the push's outcome.
        # A push has its own bounds (PUSH_RETRY), also when it runs inline inside a tool call's time bound.
        with remote_calls_collected() as request_ids, remote_calls_within(None):
            try:
                self._push(entry)
            finally:
                _note_requests(entry, request_ids)

    def _push(self, entry: OutboxEntry) -> None:
        pusher = self.pusher_for(entry.content_type_id)
        obj = pusher.model._default_manager.filter(pk=entry.object_id, organization_id=entry.organization_id).first()
        if obj is None:
            self.fail(entry, f"the local {pusher.noun} no longer exists", retryable=False)
            return
        try:
            try:
                pusher.push(entry, obj)
            except OperationalError as exc:  # a deadlock with a concurrent apply: pushes are idempotent, go again
                logger.warning("ghl.sync.push.db-retry", extra={"entry_id": entry.pk, "error": str(exc)})
                obj.refresh_from_db()
                pusher.push(entry, obj)
        except ConnectionInactive:
            raise
        except GhlValidationError as exc:
            # Do not retry a 4xx: it fails the same way until the data or the mapping changes.
            pusher.rejected(exc, obj=obj)
            self.fail(entry, f"GHL rejected the {pusher.noun}: {validation_messages(exc)}", retryable=False)
        except GhlNotFound as exc:
            self.fail(entry, f"the linked GHL {pusher.noun} no longer exists ({exc})", retryable=False)
        except GhlRateLimited as exc:  # wait outside the worker: the drain stops and is rescheduled
            raise _RateLimitedStop(exc.retry_after or DEFAULT_RATE_WAIT_SECONDS) from exc
        except GhlAuthError as exc:  # reconnecting (or granting the scope) can make it succeed
            self.fail(entry, f"GHL refused our token: {exc}", retryable=True)
        except GhlApiError as exc:  # 429 / 5xx / network: retried with backoff
            self.fail(entry, str(exc), retryable=exc.retryable or exc.status is None or exc.status >= 500)
        except ExternalIdConflict as exc:
            self.fail(entry, f"cannot link: {exc}", retryable=False)
        except Exception as exc:  # a bug: keep the entry visible and retried (a deploy may fix it)
            logger.exception("ghl.sync.push.error", extra={"entry_id": entry.pk})
            self.fail(entry, f"unexpected error: {exc!r}", retryable=True)

    def fail(self, entry: OutboxEntry, error: str, *, retryable: bool) -> None:
        entry = outbox_mark_failed(entry=entry, error=error, retryable=retryable)
        self.stats.failed += 1
        logger.warning("ghl.sync.push.failed", extra={"entry_id": entry.pk, "status": entry.status,
                                                      "retryable": retryable, "error": error})


def validation_messages(exc: GhlValidationError) -> list[str]:
    return [str(m) for m in (exc.messages or [exc.message])]


def outbox_push_pending(*, connection_id: int, budget_seconds: float = DRAIN_BUDGET_SECONDS) -> dict[str, int]:
    """Push every due outbox entry of the connection's location to GHL, each by its kind's pusher; returns
    the counts.

    One drain per location at a time, for at most ``budget_seconds``: a busy location holds one push worker,
    never all of them. A task that finds its location's drain running returns at once (that drain covers its
    entries); a drain that ends with due entries left (out of time, or committed after its last claim) queues
    the next one behind the other locations' work.

    An inactive connection pushes nothing and leaves its entries pending (they drain after a reconnect);
    a connection deactivated mid-push releases the entries it had claimed, uncounted.
    """
    connection = GhlConnection.objects.select_related("organization").filter(pk=connection_id).first()
    if connection is None or not connection.location_id:
        logger.info("ghl.sync.push.no-connection", extra={"connection_id": connection_id})
        return {}
    pushers = pushers_by_content_type()
    try:
        with sync_exclusive(location_job_name(connection, PUSH_JOB)):
            counts = _push_location(connection, pushers, budget_seconds=budget_seconds)
    except SyncBusy:
        logger.info("ghl.sync.push.already-running", extra={"connection_id": connection_id})
        return {}
    if _due_left(connection, pushers):
        _reschedule(connection_id, countdown=0)
    return counts


def _due_left(connection: GhlConnection, pushers: dict[int, type[KindPusher]]) -> bool:
    now = timezone.now()
    due = Q(status__in=[OutboxEntry.Status.PENDING, OutboxEntry.Status.FAILED], next_attempt_at__lte=now) | Q(
        status=OutboxEntry.Status.IN_PROGRESS, claimed_until__lt=now)
    return OutboxEntry.objects.for_org(connection.organization).filter(
        due, provider=PROVIDER, account_id=connection.location_id, content_type_id__in=list(pushers)).exists()


def _push_location(connection: GhlConnection, pushers: dict[int, type[KindPusher]], *,
                   budget_seconds: float) -> dict[str, int]:
    connection_id = connection.pk
    try:
        client = GhlInstallation(connection).get_client(
            retry=PUSH_RETRY, rate_limiter=default_rate_limiter(max_wait_s=PUSH_SLOT_WAIT_SECONDS))
        drain = PushDrain(connection, client, pushers)
    except ConnectionInactive:
        logger.info("ghl.sync.push.inactive", extra={"connection_id": connection_id})
        return {}
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        entries = outbox_claim_batch(provider=PROVIDER, account_id=connection.location_id, limit=BATCH_SIZE,
                                     content_type_ids=list(pushers), lease_seconds=PUSH_LEASE_SECONDS)
        if not entries:
            break
        foreign = [e for e in entries if e.organization_id != connection.organization_id]
        for entry in foreign:  # another organisation connected the same location: its own task pushes it
            outbox_release(entry=entry, reason="belongs to another organisation's connection")
        entries = [e for e in entries if e.organization_id == connection.organization_id]
        if not entries:
            break
        renewed_at = time.monotonic()
        for index, entry in enumerate(entries):
            if time.monotonic() - renewed_at >= PUSH_LEASE_SECONDS / 3:
                outbox_renew_claims(entries=entries[index:], lease_seconds=PUSH_LEASE_SECONDS)
                renewed_at = time.monotonic()
            try:
                drain.push(entry)
            except ConnectionInactive as exc:
                for rest in entries[index:]:
                    outbox_release(entry=rest, reason=f"connection inactive: {exc}")
                drain.stats.released += len(entries) - index
                logger.info("ghl.sync.push.stopped-inactive", extra={"connection_id": connection_id})
                return asdict(drain.stats)
            except _RateLimitedStop as stop:
                for rest in entries[index:]:
                    outbox_release(entry=rest, reason="GHL rate limit: rescheduled", delay_seconds=stop.retry_after)
                drain.stats.released += len(entries) - index
                _reschedule(connection_id, countdown=stop.retry_after)
                logger.info("ghl.sync.push.rate-limited", extra={"connection_id": connection_id,
                                                                 "retry_in": stop.retry_after})
                return asdict(drain.stats)
            except BaseException as exc:  # database trouble: give the rest back for the next drain
                _release_quietly(entries[index:], reason=f"push interrupted: {type(exc).__name__}: {exc}")
                raise
    _hold_unhandled(handled=pushers, account_id=connection.location_id)
    counts = asdict(drain.stats)
    if any(counts.values()):
        logger.info("ghl.sync.push.drained", extra={"connection_id": connection_id, "counts": counts})
    return counts


def _reschedule(connection_id: int, *, countdown: float) -> None:
    from .push_tasks import outbox_push_pending_task  # push_tasks imports this module: keep the cycle lazy

    try:
        outbox_push_pending_task.apply_async((connection_id,), countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - the minute sweep queues it once the entries are due
        logger.warning("ghl.sync.push.reschedule-failed", extra={"connection_id": connection_id, "error": str(exc)})


def _release_quietly(entries: list[OutboxEntry], *, reason: str) -> None:
    """Best effort: with the database gone the release fails too, and the short lease frees the entries."""
    try:
        for entry in entries:
            outbox_release(entry=entry, reason=reason)
    except Exception as exc:  # noqa: BLE001
        logger.warning("ghl.sync.push.release-failed", extra={"count": len(entries), "error": str(exc)})


def outbox_push_queue(*, location_id: str) -> int:
    """Queue a push task for each active connection of ``location_id`` (called after commit); returns how many."""
    from .push_tasks import outbox_push_pending_task  # push_tasks imports this module: keep the cycle lazy

    ids = list(GhlConnection.objects.filter(location_id=location_id, status=GhlConnection.Status.ACTIVE)
               .values_list("pk", flat=True))
    for connection_id in ids:
        outbox_push_pending_task.delay(connection_id)
    return len(ids)


def outbox_push_sweep() -> int:
    """Queue a push for every active connection with due outbox entries of a kind it can push (beat: catches
    what no notification reached, failed entries whose backoff has passed and leases that expired); logs the
    due entries no pusher handles. Returns how many connections were queued."""
    now = timezone.now()
    pushers = pushers_by_content_type()
    due = Q(status__in=[OutboxEntry.Status.PENDING, OutboxEntry.Status.FAILED], next_attempt_at__lte=now) | Q(
        status=OutboxEntry.Status.IN_PROGRESS, claimed_until__lt=now)
    locations = set(OutboxEntry.objects.filter(due, provider=PROVIDER, content_type_id__in=list(pushers))
                    .values_list("account_id", flat=True).distinct())
    _hold_unhandled(handled=pushers)
    return sum(outbox_push_queue(location_id=location_id) for location_id in sorted(locations))
