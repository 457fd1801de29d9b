"""Initial pull (and resync) of every GHL contact of a location, page by page, resumable.

One `SyncRun` (kind ``initial_pull``) per pull. Pages come from ``POST /contacts/search`` sorted by ``dateAdded``,
the location cut into ``dateAdded`` slices walked at once, each by ``searchAfter`` (`_SlicedFetcher`). Pages
are applied in bulk, one transaction per write (the pages that arrived while the previous write ran go
together, up to ``PullTuning.pages_per_write``). The run's cursor holds each slice's range, ``searchAfter``
after its last written page, count and end (``{"slices": {id: {lo, hi, after, taken, done}}}``), saved with
the counts at most every ``PullTuning.progress_seconds``; a crashed pull resumes every slice there, and
re-applying a page is harmless (the apply is idempotent). ``progress_total`` is GHL's ``total``.

GHL's rate limit (100 requests / 10 s per location), not our writes or GHL's round trips, should set the
pace: helper threads fetch pages ahead (spending each burst of the sliding window at once) while writer
threads map and write them (`_PageWriter`). Under the sliding window request k + 100 cannot go before
request k + 10 s, so the last 100 requests of a 300-page pull cannot start before 20 s, and end as long after
as a burst takes to spend: one round trip per page per slice, so as many slices as the round trip calls for.
Hence the fetchers do nothing but fetch. They never touch the database either: the main thread asks the
token provider for a token at most every second as it hands pages to the writers, and once more at the end
(`_DisconnectCheck`; this also notices a disconnect: `ConnectionInactive` stops the pull, the run is marked
cancelled, every written page is kept, and the fetchers stop after at most the page in flight).

How many writers, how many pages per write, how often progress is saved: `PullTuning`, whose defaults are
production's (tuning, not configuration); tests and benches pass their own.
"""
import copy
import datetime as dt
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.sync.kinds.contact_copy import sync_tables_analyze
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.mapping import Mapping
from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start
from crm.sync.targets import SyncTargetsCache

from ..client import GhlClient
from ..client.contacts import SEARCH_MAX_PAGE_LIMIT
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.exclusive import one_per_location
from .first_sync import contacts_push_local_only, contacts_queue_changed_here
from .inbound import records_from_search_page
from .mapping import PROVIDER, contact_mapping_ensure_defaults, contact_mapping_for
from .runs import sync_run_reset_progress

logger = logging.getLogger(__name__)

PULL_PAGE_SIZE = 100  # GHL accepts up to SEARCH_MAX_PAGE_LIMIT; 100 keeps each page's transaction short
# Pages fetched ahead of the writes: enough to spend a whole 100-request burst while the writes catch up.
MAX_PAGES_AHEAD = 200
# The run's cursor: ``{"slices": {id: {lo, hi, after, taken, done}}}``, where each slice continues (`_Slice`).
SLICES = "slices"
# After these pages, refresh the tables' planner statistics (`sync_tables_analyze`: a new account's tables
# grow too fast for autovacuum).
ANALYZE_AFTER_PAGES = frozenset({1, 10})


class _RefreshInMainThread(Exception):
    """The helper thread needs a forced token refresh, which touches the database: redo it in the main thread."""


class _TokenRelay:
    """Token provider for the helper thread: hands out the token the main thread fetched last."""

    def __init__(self, provide: Callable[..., str]):
        self.provide = provide
        self.token: str | None = None
        self.main_thread = threading.get_ident()

    def refresh(self) -> None:
        self.token = self.provide()

    def __call__(self, force_refresh: bool = False) -> str:
        if force_refresh or self.token is None:
            if threading.get_ident() != self.main_thread:
                raise _RefreshInMainThread()
            self.token = self.provide(force_refresh)
        return self.token


class _SendClock:
    """When the pull's last request left (`make_session`'s ``on_send``); a write first waits until none has
    left for a moment (`PullTuning.hold_writes_seconds`)."""

    def __init__(self, *, quiet_seconds: float, most_seconds: float):
        self.quiet, self.most = quiet_seconds, most_seconds
        self.last = 0.0

    def sent(self) -> None:
        self.last = time.monotonic()

    def wait_quiet(self) -> None:
        until = time.monotonic() + self.most
        while True:
            now = time.monotonic()
            idle = now - self.last
            if idle >= self.quiet or now >= until:
                return
            time.sleep(min(self.quiet - idle, until - now))


class _DisconnectCheck:
    """Asks the token provider for a token (a query; `ConnectionInactive` once the connection is gone) at most
    every ``every_seconds``, so a disconnect stops the pull within about that long without a query per page
    (the pull is CPU-bound in its last burst; see the module docstring)."""

    def __init__(self, relay: _TokenRelay, *, every_seconds: float):
        self.relay, self.every_seconds = relay, every_seconds
        self.last: float | None = None

    def __call__(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or self.last is None or now - self.last >= self.every_seconds:
            self.relay.refresh()
            self.last = now


@dataclass(frozen=True)
class PullTuning:
    """How a pull spends its threads and database round trips. The defaults are production's."""

    #: Threads writing pages in parallel (one database connection each); 1 writes in the pulling thread. A write
    #: spends 85-90% of its time waiting for PostgreSQL (COPY, index upkeep, commit), which releases the GIL, so
    #: writers overlap their waits wherever PostgreSQL has a core to spare (its own machine in production): the
    #: last burst of GHL's window is what they must clear (bench/RESULTS.md).
    apply_workers: int = 4
    #: Most requests in flight (fetch threads, one slice each); 1 walks the location as one slice. A burst of
    #: GHL's window (100 requests) at once: every later window inherits the first one's spread (request k + 100
    #: waits for request k), so a burst sent over a second costs the last window that second again.
    max_fetchers: int = 100
    #: Requests in flight are chosen to spend a burst of GHL's window (100 requests) in about this long, from
    #: the first round trip: 10 at the sandbox's ~10 ms, the most from 100 ms up (GHL's 150–400 ms).
    burst_spread_seconds: float = 0.1
    #: A write (its mapping holds the GIL) waits, at most this long, until no request has left for
    #: ``send_quiet_seconds``: while a burst goes out its CPU would spread the burst, and every later window
    #: with it. 0: no wait (and never when writing in the pulling thread).
    hold_writes_seconds: float = 0.5
    send_quiet_seconds: float = 0.02
    #: A fresh pull is cut into slices of at least this many pages each.
    min_slice_pages: int = 2
    #: A fetch thread with no slice free splits one that has at least this many pages left.
    split_min_pages: int = 3
    #: Pages already fetched when a write starts go together, up to this many: one transaction, one set of
    #: lookups, which matters when GHL's window hands out a burst at once.
    pages_per_write: int = 5
    #: Progress and cursor saved (one UPDATE of the run) at most this often, and at the end or a stop; a crash
    #: re-applies the pages written since (harmless). 0: after every write.
    progress_seconds: float = 0.5
    #: The connection is checked (one query) at most this often, and once more at the end. 0: before every write.
    disconnect_check_seconds: float = 1.0


PULL_DEFAULTS = PullTuning()

# A pull task's share of a pulls worker: past it the pull hands over (`contacts_initial_pull`'s ``time_budget_s``)
# and its follow-up queues behind the other locations' pulls and reconciliations. At GHL's 100 requests / 10 s
# that is ~60,000 contacts a turn.
PULL_TASK_BUDGET_SECONDS = 60.0

# A running pull stamps its run's heartbeat this often, from a thread of its own, whatever it waits for (GHL's
# window, a slow page): a run silent for `runs.PULL_ORPHANED_AFTER` lost its worker, and the orphan sweep
# resumes it from its cursor.
HEARTBEAT_SECONDS = 5.0


class _Heartbeat:
    """Stamps ``heartbeat_at`` of a running run every ``every`` seconds on its own database connection."""

    def __init__(self, run_id: int, *, every: float = HEARTBEAT_SECONDS):
        self.run_id, self.every = run_id, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="ghl-pull-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        from django.db import connections

        try:
            while not self.stop.wait(self.every):
                try:
                    SyncRun.objects.filter(pk=self.run_id, status=SyncRun.Status.RUNNING).update(
                        heartbeat_at=timezone.now())
                except Exception:  # noqa: BLE001 - a missed beat is retried; the pull itself reports trouble
                    logger.warning("ghl.sync.pull.heartbeat-failed", extra={"run_id": self.run_id}, exc_info=True)
        finally:
            connections.close_all()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@dataclass
class PullResult:
    run: SyncRun
    pages: int = 0
    requests: int = 0
    #: The time budget ran out first: the run is still ``running``, its cursor saved, for a follow-up to resume.
    handed_over: bool = False


@one_per_location(SyncRun.Kind.INITIAL_PULL)
def contacts_initial_pull(
    *,
    connection: GhlConnection,
    resume: bool = False,
    page_size: int = PULL_PAGE_SIZE,
    on_page: Callable[[SyncRun], None] | None = None,
    max_ahead: int = MAX_PAGES_AHEAD,
    tuning: PullTuning | None = None,
    time_budget_s: float | None = None,
) -> PullResult:
    """Pull every contact of the connection's location into the CRM. ``resume`` continues the last unfinished
    pull from its cursor. ``on_page(run)`` is called each time the run's progress is saved (progress bars,
    tests): at most every ``tuning.progress_seconds`` (after every write when that is 0) and at the end.
    ``tuning`` defaults to `PULL_DEFAULTS`; called inside a transaction (which the writers' own connections
    could not see) the pull writes in the calling thread.
    ``time_budget_s`` bounds the pull (a task's share of a worker): past it no new request goes, the pages in
    flight are written, the cursor is saved and the run stays ``running`` for a follow-up to resume
    (``PullResult.handed_over``; `tasks.contacts_initial_pull_task` queues it once the lock is released).
    Returns when done; the run is ``succeeded``, ``cancelled`` (connection gone) or ``failed`` (re-raised).
    Raises before anything starts: `ValueError` for a ``page_size`` GHL would refuse, `SyncBusy` while another
    pull of the location runs (one at a time, `crm.sync.locks`)."""
    if not 1 <= page_size <= SEARCH_MAX_PAGE_LIMIT:
        raise ValueError(f"page_size must be between 1 and {SEARCH_MAX_PAGE_LIMIT}, not {page_size}")
    tuning = tuning or PULL_DEFAULTS
    installation = GhlInstallation(connection)
    relay = _TokenRelay(installation.token_provider())
    disconnect_check = _DisconnectCheck(relay, every_seconds=tuning.disconnect_check_seconds)
    run = sync_run_start(organization=connection.organization, provider=PROVIDER,
                         account_id=connection.location_id, kind=SyncRun.Kind.INITIAL_PULL,
                         connection_id=connection.pk, resume=resume)
    result = PullResult(run=run)
    logger.info("ghl.sync.pull.start", extra={"run_id": run.pk, "connection_id": connection.pk,
                                               "resume_cursor": run.cursor})
    client = fetcher = writer = None
    # The run a caller's open transaction holds is invisible to another connection: no beat is needed there.
    heartbeat = None if transaction.get_connection().in_atomic_block else _Heartbeat(run.pk)
    try:
        relay.refresh()  # ConnectionInactive here: nothing started
        sends = _SendClock(quiet_seconds=tuning.send_quiet_seconds, most_seconds=tuning.hold_writes_seconds)
        client = installation.get_client(token_provider=relay, pool_size=tuning.max_fetchers, on_send=sends.sent)
        contact_mapping_ensure_defaults(connection=connection, client=client)
        mapping = contact_mapping_for(connection)
        # No cursor: a new run, or one that crashed on its first page; both start over (idempotent).
        slices = _slices_from_cursor(run)
        if not slices and run.progress_done:
            run = sync_run_reset_progress(run=run)
        if not slices:  # local side first: what changed here while GHL was out of reach goes to GHL
            contacts_queue_changed_here(connection=connection)
        fetcher = _SlicedFetcher(client, slices=slices or [_Slice(id=0)], page_size=page_size, max_ahead=max_ahead,
                                 tuning=tuning, plan=not slices)
        deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
        # Rows the caller has not committed yet are invisible to the writers' own connections.
        workers = 1 if transaction.get_connection().in_atomic_block else tuning.apply_workers
        writer = _PageWriter(connection=connection, run=run, mapping=mapping, on_page=on_page, result=result,
                             workers=workers, tuning=tuning, sends=sends)
        while True:
            # At least one page a turn, so a pull always gets somewhere.
            if deadline is not None and not result.handed_over and result.requests \
                    and time.monotonic() >= deadline:
                result.handed_over = True
                fetcher.drain()  # what is in flight still comes, and is written
            kind, payload = fetcher.get()
            if kind == "end":
                disconnect_check(force=True)  # pages written since the last check stay; the run is not "succeeded"
                break
            if kind == "refresh":
                relay(force_refresh=True)  # in this thread: may raise ConnectionInactive
                payload.set()
                continue
            if kind == "error":
                raise payload
            # Pages that arrived while the last write ran are written together: one transaction and one set
            # of lookups for several pages, which matters when GHL's window hands out a burst at once.
            pages = [payload, *fetcher.more_pages(tuning.pages_per_write - 1)]
            contacts = [contact for fetched_page in pages for contact in fetched_page.contacts]
            states: dict[str, Any] = {}
            new_slices: dict[str, Any] = {}
            for fetched_page in pages:
                states.update(fetched_page.states)
                for slice_id, state in fetched_page.new_slices.items():
                    new_slices.setdefault(slice_id, state)
            totals = [p.total for p in pages if p.total is not None]
            result.requests += len(pages)
            disconnect_check()  # also keeps the fetcher's token fresh
            writer.submit(contacts=contacts, pages=len(pages), total=totals[-1] if totals else None,
                          cursors=states, new_slices=new_slices)
            run = writer.collect(block=True if result.handed_over else False) or run
        run = writer.collect(block=True) or run
        if result.handed_over and fetcher.unfinished():
            result.run = run
            logger.info("ghl.sync.pull.handed-over", extra={"run_id": run.pk, "connection_id": connection.pk,
                                                            "pages": result.pages})
            return result
        result.handed_over = False
        GhlConnection.objects.filter(pk=connection.pk).update(last_synced_at=timezone.now())
        result.run = sync_run_finish(run=run)
        # The first sync is two-way: what the pull could not match to a GHL contact goes to GHL.
        contacts_push_local_only(connection=connection)
    except ConnectionInactive as exc:
        run = _settle(writer, run)  # pages already handed to the writers are kept, and the cursor with them
        result.run = sync_run_finish(run=run, status=SyncRun.Status.CANCELLED, error=f"connection inactive: {exc}")
        logger.info("ghl.sync.pull.stopped", extra={"run_id": run.pk, "connection_id": connection.pk})
    except BaseException as exc:
        run = _settle(writer, run)
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        logger.warning("ghl.sync.pull.failed", extra={"run_id": run.pk, "error": str(exc)})
        raise
    finally:
        if heartbeat is not None:
            heartbeat.close()
        if fetcher is not None:
            fetcher.close()
        if writer is not None:
            writer.close()
        if client is not None:
            client.close()
    logger.info("ghl.sync.pull.done", extra={"run_id": run.pk, "status": result.run.status, "pages": result.pages})
    return result


def _slices_from_cursor(run: SyncRun) -> "list[_Slice]":
    """The slices a resumed run continues, from its saved cursor (empty for a run that starts over). A cursor of
    the two-walk pull that came before (``searchAfter``, ``tailAfter``) becomes one slice between the two."""
    cursor = run.cursor or {}
    saved = cursor.get(SLICES)
    if isinstance(saved, dict) and saved:
        slices = [_Slice.from_state(int(slice_id), state) for slice_id, state in saved.items()]
        # A slice split off another is saved with its own pages too, which may be written before the other's
        # next page saved the other's shorter range: every range is cut off where the next one starts (ranges
        # only ever come from splitting, so that covers the same contacts), so nothing is read twice.
        slices.sort(key=lambda piece: -1 if piece.lo is None else piece.lo)
        for piece, following in zip(slices, slices[1:], strict=False):
            if following.lo is not None and (piece.hi is None or following.lo < piece.hi):
                piece.hi = following.lo
        return sorted(slices, key=lambda piece: piece.id)
    head, tail = _sort_key(cursor.get("searchAfter")), _sort_key(cursor.get("tailAfter"))
    if head is None:
        return []
    return [_Slice(id=0, after=list(head), hi=tail[0] + 1 if tail is not None else None)]


def _settle(writer: "_PageWriter | None", run: SyncRun) -> SyncRun:
    """After a stop: let submitted pages finish and store the cursor of the contiguous part written."""
    if writer is None:
        return run
    try:
        return writer.collect(block=True, raise_errors=False) or run
    except Exception:  # noqa: BLE001 - already stopping; the run keeps the last cursor it stored
        return run


@dataclass
class _Progress:
    """Written pages whose counts and cursor are not saved on the run yet."""

    pages: int = 0
    done: int = 0
    total: int | None = None
    cursors: dict[str, Any] = field(default_factory=dict)  # slice → its state after its last written page
    new_slices: dict[str, Any] = field(default_factory=dict)  # slices split off since (their first state)
    counts: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)

    def add(self, *, counts: dict[str, int], done: int, total: int | None, refusals: dict[str, str],
            cursors: dict[str, Any], new_slices: dict[str, Any]) -> None:
        self.pages += 1
        self.done += done
        self.total = total if total is not None else self.total
        self.cursors.update(cursors)
        for slice_id, state in new_slices.items():
            self.new_slices.setdefault(slice_id, state)
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        self.refusals.update(refusals)


class _PageWriter:
    """Writes pages with ``workers`` threads (one database connection each), in parallel, and keeps the run's
    cursor on the longest written prefix, so a resume never skips an unwritten page (re-writing is harmless).

    Database waits release the GIL, so a few writers overlap their INSERTs; with ``workers=1`` pages are
    written in the calling thread (tests, which run inside one transaction, use that).

    The writers also map the GHL contacts to records (pure Python), not the fetching thread: that one then
    spends each burst of GHL's window back to back, and the last burst (which the first one's pace sets,
    see the module docstring) starts and ends earlier.
    """

    def __init__(self, *, connection: GhlConnection, run: SyncRun, mapping: Mapping, workers: int,
                 tuning: PullTuning, on_page: Callable[[SyncRun], None] | None, result: "PullResult",
                 sends: _SendClock | None = None):
        self.connection, self.run, self.on_page, self.result = connection, run, on_page, result
        self.sends = sends if tuning.hold_writes_seconds > 0 else None
        self.mapping = mapping
        self.sync_targets = SyncTargetsCache(connection.organization_id,
                                             max_age=tuning.disconnect_check_seconds)
        self.workers = max(1, workers)
        self.pending: deque = deque()
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ghl-pull-write") \
            if self.workers > 1 else None
        self.local = threading.local()
        self.unsaved = _Progress()
        self.cursors = dict((run.cursor or {}).get(SLICES) or {})
        self.save_every = tuning.progress_seconds
        self.saved_at = time.monotonic()

    def _thread_mapping(self) -> Mapping:
        # `Mapping.to_local` keeps its last errors on the instance: one copy per thread, so threads never share it.
        if getattr(self.local, "mapping", None) is None:
            self.local.mapping = copy.copy(self.mapping)
        return self.local.mapping

    def _write(self, contacts) -> tuple[dict[str, int], int, dict[str, str]]:
        """Map and apply one page; its counts, size and refusals go to the run when the cursor passes it
        (`collect`)."""
        if not contacts:  # an empty slice: nothing to write, only its end to record
            return {}, 0, {}
        if self.sends is not None and self.pool is not None:  # the fetch threads send first
            self.sends.wait_quiet()
        records = records_from_search_page(self._thread_mapping(), contacts)
        page_result = contact_apply_remote_page(
            organization=self.connection.organization, provider=PROVIDER, account_id=self.connection.location_id,
            connection_id=self.connection.pk, records=records, sync_targets=self.sync_targets)
        return page_result.counts, len(records), page_result.errors

    def submit(self, *, contacts, pages: int, total, cursors: dict[str, Any], new_slices: dict[str, Any]) -> None:
        if self.pool is None:
            future: Future = Future()
            try:
                future.set_result(self._write(contacts))
            except BaseException as exc:
                future.set_exception(exc)
        else:
            future = self.pool.submit(self._write, contacts)
        self.pending.append((future, pages, total, cursors, new_slices))
        if len(self.pending) >= self.workers * 2:  # bounded: wait for the oldest
            self.pending[0][0].result()

    def collect(self, *, block: bool, raise_errors: bool = True) -> SyncRun | None:
        """Advance the cursor over every finished page at the head; raise the first failure. The run is
        saved at most every ``tuning.progress_seconds`` and always when blocking (the end, a stop)."""
        advanced = None
        while self.pending and (block or self.pending[0][0].done()):
            future, pages, total, cursors, new_slices = self.pending[0]
            try:
                counts, done, refusals = future.result()
            except BaseException:
                if raise_errors:
                    raise
                if block:
                    for other, *_ in list(self.pending)[1:]:
                        other.exception()  # wait, so nothing is written after we stop
                break
            self.pending.popleft()
            self.unsaved.add(counts=counts, done=done, total=total, refusals=refusals, cursors=cursors,
                             new_slices=new_slices)
            before, self.result.pages = self.result.pages, self.result.pages + pages
            if any(before < n <= self.result.pages for n in ANALYZE_AFTER_PAGES):
                sync_tables_analyze()
            if time.monotonic() - self.saved_at >= self.save_every:
                advanced = self._save()
        if block and self.unsaved.pages:
            advanced = self._save()
        return advanced

    def _save(self) -> SyncRun:
        # Counts and progress move with the cursor, in one update, so the run never counts a page that a
        # resume will apply again.
        unsaved, self.unsaved = self.unsaved, _Progress()
        # A slice's own page may be written before the page of the slice it was split from: keep the newer.
        for slice_id, state in unsaved.new_slices.items():
            self.cursors.setdefault(slice_id, state)
        self.cursors.update(unsaved.cursors)
        self.run = sync_run_advance(run=self.run, counts=unsaved.counts, done=unsaved.done, total=unsaved.total,
                                    refusals=unsaved.refusals,
                                    cursor={SLICES: dict(self.cursors)} if self.cursors else None)
        self.saved_at = time.monotonic()
        if self.on_page:
            self.on_page(self.run)
        return self.run

    def close(self) -> None:
        if self.pool is None:
            return
        # Each writer thread opened its own database connection; close each in its own thread. The barrier
        # keeps every close job on a distinct thread of the pool.
        barrier = threading.Barrier(self.workers)

        def close_own_connection() -> None:
            from django.db import connections

            connections.close_all()
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass

        for _ in range(self.workers):
            self.pool.submit(close_own_connection)
        self.pool.shutdown(wait=True, cancel_futures=False)


@dataclass
class _Slice:
    """A ``dateAdded`` range ``[lo, hi)`` of the location (ms; None: unbounded), walked oldest first by
    ``searchAfter``. Half-open ranges put contacts added in the same millisecond in the same slice, so a slice
    edge never falls between them."""

    id: int
    lo: int | None = None
    hi: int | None = None
    after: Any = None  # ``searchAfter`` of the last contact taken
    taken: int = 0
    done: bool = False
    total: int | None = None  # GHL's count of the range, from the latest page (None: not known)
    busy: bool = False  # a request is in flight
    generation: int = 0  # bumped when a split moves ``hi``: a count from before it is not this range's
    understated: bool = False  # a page held more than GHL's count said was left: sized by pages from then on
    children: list["_Slice"] = field(default_factory=list)  # split off since the last page

    def filters(self) -> list[dict[str, Any]] | None:
        bounds = {**({"gte": _iso_ms(self.lo)} if self.lo is not None else {}),
                  **({"lt": _iso_ms(self.hi)} if self.hi is not None else {})}
        return [{"field": "dateAdded", "operator": "range", "value": bounds}] if bounds else None

    def remaining(self) -> int | None:
        return None if self.total is None else max(0, self.total - self.taken)

    def state(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "after": self.after, "taken": self.taken, "done": self.done}

    @classmethod
    def from_state(cls, slice_id: int, state: dict[str, Any]) -> "_Slice":
        return cls(id=slice_id, lo=state.get("lo"), hi=state.get("hi"), after=state.get("after"),
                   taken=int(state.get("taken") or 0), done=bool(state.get("done")))


def _iso_ms(ms: int) -> str:
    # Integer arithmetic: a float timestamp can land a millisecond off, which would move a slice edge.
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class _FetchedPage:
    slice_id: int
    contacts: list[dict[str, Any]]
    states: dict[str, dict[str, Any]]  # the slice's state after this page, for the run's cursor
    new_slices: dict[str, dict[str, Any]]  # slices split off it since its last page (their first state)
    total: int | None  # GHL's count of the whole location (an unsliced page's), else None


class _SlicedFetcher:
    """Fetches pages on helper threads, as many at once as GHL's rate budget and round trip call for, up to
    ``max_ahead`` pages ahead of the writes.

    The location is cut into ``dateAdded`` slices (`_Slice`), each walked by ``searchAfter`` with one request in
    flight. A fresh pull starts with one slice, the whole location; its first page gives GHL's count and the
    oldest contact, and its round trip says how many requests must be in flight to spend a 100-request burst
    of GHL's window in ``tuning.burst_spread_seconds`` (a keyset walk is one round trip a page: at GHL's
    150–400 ms, two walks spend a burst in 8–20 s). The rest of the location, up to now, is then cut into that
    many equal time ranges (the last one open, so contacts added meanwhile are read too); a thread that finds
    no slice free splits the one with the most left in two (time halves). Each slice's last request asks
    for all it has left, up to two pages, plus one contact: it comes back short, which ends the slice in the
    same request, and slicing costs no partial pages. A slice ends at a short page only, never on a count
    alone (a count that understates would leave contacts unread).

    `get` returns ``("page", _FetchedPage)``, ``("refresh", threading.Event)`` (the token needs a forced refresh,
    which touches the database: the main thread does it and sets the event), then ``("end", None)`` once every
    slice ended or `drain` was called, or ``("error", exc)``.
    """

    def __init__(self, client: GhlClient, *, slices: list[_Slice], page_size: int, max_ahead: int,
                 tuning: "PullTuning", plan: bool):
        self.client, self.page_size, self.tuning = client, page_size, tuning
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, max_ahead))
        self.held: tuple | None = None  # an item `more_pages` took off the queue but must not hand out yet
        self.stop = threading.Event()
        self.draining = False
        self.lock = threading.Condition()
        self.slices = {s.id: s for s in slices}
        self.next_id = max(self.slices) + 1
        self.plan_pending = plan  # a fresh pull: slice 0 is the whole location until its first page
        self.sized = False  # the number of fetch threads is set after the first round trip
        self.until_ms = int(time.time() * 1000)  # an open slice is split up to now
        self.first_round_trip: float | None = None
        self.running = 0
        self.threads: list[threading.Thread] = []
        self._start_threads(1)

    def _start_threads(self, count: int) -> None:
        for _ in range(count):
            with self.lock:
                self.running += 1
            thread = threading.Thread(target=self._run, name=f"ghl-pull-fetch-{len(self.threads)}", daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                with self.lock:
                    job = self._next_job()
                    while job is None and not self.stop.is_set() and self._unfinished():
                        self.lock.wait(0.2)
                        job = self._next_job()
                if job is None:
                    break
                piece, size, generation = job
                started = time.monotonic()
                try:
                    page = self._search(piece, size)
                except BaseException:
                    with self.lock:
                        piece.busy = False
                        self.lock.notify_all()
                    raise
                round_trip = time.monotonic() - started
                with self.lock:
                    more = self._size_fetchers(round_trip)
                    item = self._take(piece, size, generation, page)
                    self.lock.notify_all()
                if more:
                    self._start_threads(more)
                self._put(("page", item))
                # Only now may the slice's next page be asked: a page that overtook this one in the queue would
                # be written first and save a cursor past this unwritten page (a crash would then skip it).
                with self.lock:
                    piece.busy = False
                    self.lock.notify_all()
        except BaseException as exc:  # handed to the main thread, which decides
            self._put(("error", exc))
        finally:
            with self.lock:
                self.running -= 1
                last = self.running == 0
                self.lock.notify_all()
            if last:
                self._put(("end", None))

    def _search(self, piece: _Slice, size: int) -> dict[str, Any]:
        while True:
            try:
                return self.client.contacts.search(page_limit=size, search_after=piece.after,
                                                   filters=piece.filters())
            except _RefreshInMainThread:
                refreshed = threading.Event()
                self._put(("refresh", refreshed))
                while not refreshed.wait(0.2):
                    if self.stop.is_set():
                        raise
                continue

    def _unfinished(self) -> bool:
        return not self.draining and self.unfinished()

    def unfinished(self) -> bool:
        """Is any slice left to read (after a `drain`: what a follow-up resumes)?"""
        return any(not s.done for s in self.slices.values())

    def _next_job(self) -> tuple[_Slice, int, int] | None:
        """The slice to ask next and the size of its request (caller holds the lock): a free slice, the one
        with the most left first (an unread one before any), else a new one split off the biggest."""
        if self.draining:
            return None
        free = [s for s in self.slices.values() if not s.done and not s.busy]
        if not free and self.sized and len(self.threads) > 1:
            child = self._split_biggest()
            free = [child] if child is not None else []
        if not free:
            return None
        piece = max(free, key=lambda s: (s.remaining() is None, s.remaining() or 0, -s.id))
        piece.busy = True
        return piece, self._request_size(piece), piece.generation

    def _request_size(self, piece: _Slice) -> int:
        left = piece.remaining()
        if left and left < 2 * self.page_size and not piece.understated:
            return min(left + 1, SEARCH_MAX_PAGE_LIMIT)  # the last request: comes back short
        return self.page_size

    def _split_biggest(self) -> _Slice | None:
        """Split the busy slice with the most left (at least ``tuning.split_min_pages`` pages) at the middle of
        the time it has left; None if none can be."""
        least = self.tuning.split_min_pages * self.page_size
        candidates = sorted((s for s in self.slices.values() if not s.done and (s.remaining() or 0) >= least),
                            key=lambda s: -(s.remaining() or 0))
        for piece in candidates:
            children = self._split(piece, 2)
            if children:
                return children[0]
        return None

    def _split(self, piece: _Slice, parts: int) -> list[_Slice]:
        """Cut what ``piece`` has left into ``parts`` equal time ranges; ``piece`` keeps the first. Contacts of
        the millisecond it stopped at stay in it. Returns the new slices (fewer when the time is too short)."""
        start = (_sort_key(piece.after) or (piece.lo, ""))[0] if piece.after is not None else piece.lo
        end = piece.hi if piece.hi is not None else self.until_ms
        if start is None or end - start < 2:
            return []
        parts = min(parts, end - start)
        edges = [start + 1 + (end - start - 1) * i // parts for i in range(1, parts)]
        edges = sorted({e for e in edges if start < e < end})
        if not edges:
            return []
        children = []
        for lo, hi in zip(edges, [*edges[1:], piece.hi], strict=True):
            child = _Slice(id=self.next_id, lo=lo, hi=hi)
            self.next_id += 1
            self.slices[child.id] = child
            children.append(child)
        piece.hi = edges[0]
        piece.total = None  # its range changed: its next page says how many it has left
        piece.generation += 1
        piece.children.extend(children)
        return children

    def _take(self, piece: _Slice, size: int, generation: int, page: dict[str, Any]) -> _FetchedPage:
        """Take the contacts of a page that belong to the slice now (a split while the request was in flight
        gave the rest to the new slice), move its cursor, end it on a short page (caller holds the lock)."""
        fetched = page.get("contacts") or []
        total = page.get("total") if isinstance(page.get("total"), int) else None
        unsliced = piece.lo is None and piece.hi is None and generation == piece.generation
        taken = []
        for contact in fetched:
            key = _sort_key(contact.get("searchAfter"))
            if key is None or (piece.hi is not None and key[0] >= piece.hi):
                break
            taken.append(contact)
        if taken:
            piece.after = taken[-1].get("searchAfter")
            piece.taken += len(taken)
        piece.total = total if generation == piece.generation else None
        piece.done = len(fetched) < size or len(taken) < len(fetched)
        if not piece.done and size != self.page_size:
            piece.understated = True  # the count's last request came back full
        if self.plan_pending and piece.id == 0:
            self.plan_pending = False
            self._plan(piece, total)
        # The slices split off this one go to the cursor with this page: until it is written, this slice's
        # saved range still covers theirs, so a crash in between leaves no gap.
        states = {str(piece.id): piece.state()}
        new_slices = {str(child.id): child.state() for child in piece.children}
        piece.children = []
        return _FetchedPage(piece.id, taken, states, new_slices, total if unsliced else None)

    def _plan(self, first: _Slice, total: int | None) -> None:
        """After a fresh pull's first page: cut the rest of the location into as many slices as fetch threads
        will run, each of at least ``tuning.min_slice_pages`` pages."""
        if first.done or total is None:
            return
        wanted = min(self._fetchers_for(self.first_round_trip or 0.0),
                     (total - first.taken) // (self.tuning.min_slice_pages * self.page_size))
        if wanted >= 2:
            self._split(first, wanted)

    def _fetchers_for(self, round_trip: float) -> int:
        limit = getattr(getattr(getattr(self.client, "http", None), "rate_limiter", None), "config", None)
        burst = getattr(limit, "limit", 100) or 100
        wanted = math.ceil(burst * round_trip / self.tuning.burst_spread_seconds)
        return max(min(2, self.tuning.max_fetchers), min(self.tuning.max_fetchers, wanted))

    def _size_fetchers(self, round_trip: float) -> int:
        """After the first round trip: how many more fetch threads to start (caller holds the lock)."""
        if self.sized:
            return 0
        self.sized = True
        self.first_round_trip = round_trip
        return self._fetchers_for(round_trip) - len(self.threads)

    def drain(self) -> None:
        """Ask nothing more: the requests in flight end, their pages are delivered, then ``("end", None)``."""
        with self.lock:
            self.draining = True
            self.lock.notify_all()

    def cursor(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {str(s.id): s.state() for s in self.slices.values()}

    def _put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def get(self):
        if self.held is not None:
            item, self.held = self.held, None
            return item
        return self.queue.get()

    def more_pages(self, limit: int) -> list:
        """Up to ``limit`` more pages that are already fetched, without waiting; anything else stays queued."""
        pages: list = []
        while len(pages) < limit and self.held is None:
            try:
                kind, payload = self.queue.get_nowait()
            except queue.Empty:
                break
            if kind == "page":
                pages.append(payload)
            else:
                self.held = (kind, payload)
        return pages

    def close(self) -> None:
        self.stop.set()
        with self.lock:
            self.lock.notify_all()
        for thread in list(self.threads):
            thread.join(timeout=60)


def _sort_key(search_after: Any) -> tuple | None:
    """A ``searchAfter`` value (GHL: ``[dateAdded ms, id]``) as a comparable key; None if it is not one."""
    if not isinstance(search_after, list | tuple) or len(search_after) != 2:
        return None
    ms, contact_id = search_after
    if not isinstance(ms, int | float) or not isinstance(contact_id, str):
        return None
    return (ms, contact_id)
