"""Initial pull (and resync) of every GHL contact of a location, page by page, resumable.

One `SyncRun` (kind ``initial_pull``) per pull. Pages come from ``POST /contacts/search`` by ``dateAdded`` with
``searchAfter``, walked from both ends at once on a location of more than two pages (`_Prefetcher`: oldest
first and newest first, until the walks meet). Pages are applied in bulk, one transaction per write (the pages
that arrived while the previous write ran go together, up to ``PullTuning.pages_per_write``). The run's
cursor holds each walk's ``searchAfter`` after its last written page (``searchAfter`` for the oldest-first
walk, ``tailAfter`` for the other), saved with the counts at most every ``PullTuning.progress_seconds``;
a crashed pull resumes both walks there, and re-applying a page is harmless (the apply is idempotent).
``progress_total`` is GHL's ``total``.

GHL's rate limit (100 requests / 10 s per location), not our writes, should set the pace: helper threads
fetch pages ahead (spending each burst of the sliding window at once) while writer threads map and write them
(`_PageWriter`). Under the sliding window request k + 100 cannot go before request k + 10 s, so the last
100 requests cannot start before 20 s (on a 300-page pull) and take as long as a burst's round trips: two
walks halve that. Hence the fetchers do nothing but fetch. They never touch the database either: the main
thread asks the token provider for a token at most every second as it hands pages to the writers, and once
more at the end (`_DisconnectCheck`; this also notices a disconnect: `ConnectionInactive` stops the pull, the
run is marked cancelled, every written page is kept, and the fetchers stop after at most the page in flight).

How many writers, how many pages per write, how often progress is saved: `PullTuning`, whose defaults are
production's (tuning, not configuration); tests and benches pass their own.
"""
import copy
import logging
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

from crm.sync.bulk_copy import sync_tables_analyze
from crm.sync.inbound_page import contact_apply_remote_page
from crm.sync.mapping import Mapping
from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start
from crm.sync.targets import SyncTargetsCache

from ..client import GhlClient
from ..client.contacts import SEARCH_MAX_PAGE_LIMIT
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from .contacts_inbound import records_from_search_page
from .exclusive import one_per_location
from .first_sync import contacts_push_local_only
from .mapping import PROVIDER, contact_mapping_ensure_defaults, contact_mapping_for
from .runs import sync_run_reset_progress

logger = logging.getLogger(__name__)

PULL_PAGE_SIZE = 100  # GHL accepts up to SEARCH_MAX_PAGE_LIMIT; 100 keeps each page's transaction short
# Pages fetched ahead of the writes: enough to spend a whole 100-request burst while the writes catch up.
MAX_PAGES_AHEAD = 200
# The run's cursor: where each stream continues (`_Prefetcher`).
HEAD, TAIL = "searchAfter", "tailAfter"
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

    #: Threads writing pages in parallel (one database connection each); 1 writes in the pulling thread.
    apply_workers: int = 2
    #: Walk from the oldest and the newest contact at once (two request chains: half the round trips' time).
    from_both_ends: bool = True
    #: Pages already fetched when a write starts go together, up to this many: one transaction, one set of
    #: lookups, which matters when GHL's window hands out a burst at once.
    pages_per_write: int = 5
    #: Progress and cursor saved (one UPDATE of the run) at most this often, and at the end or a stop; a crash
    #: re-applies the pages written since (harmless). 0: after every write.
    progress_seconds: float = 0.5
    #: The connection is checked (one query) at most this often, and once more at the end. 0: before every write.
    disconnect_check_seconds: float = 1.0


PULL_DEFAULTS = PullTuning()

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


@one_per_location(SyncRun.Kind.INITIAL_PULL)
def contacts_initial_pull(
    *,
    connection: GhlConnection,
    resume: bool = False,
    page_size: int = PULL_PAGE_SIZE,
    on_page: Callable[[SyncRun], None] | None = None,
    max_ahead: int = MAX_PAGES_AHEAD,
    tuning: PullTuning | None = None,
) -> PullResult:
    """Pull every contact of the connection's location into the CRM. ``resume`` continues the last unfinished
    pull from its cursor. ``on_page(run)`` is called each time the run's progress is saved (progress bars,
    tests): at most every ``tuning.progress_seconds`` (after every write when that is 0) and at the end.
    ``tuning`` defaults to `PULL_DEFAULTS`; called inside a transaction (which the writers' own connections
    could not see) the pull writes in the calling thread.
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
        client = installation.get_client(token_provider=relay)
        contact_mapping_ensure_defaults(connection=connection, client=client)
        mapping = contact_mapping_for(connection)
        # No cursor: a new run, or one that crashed on its first or last page; both start over (idempotent).
        cursors = _walk_cursors(run)
        if not cursors and run.progress_done:
            run = sync_run_reset_progress(run=run)
        fetched = run.progress_done

        def start_fetcher() -> _Prefetcher:
            return _Prefetcher(client, cursors=cursors, page_size=page_size, already=fetched, max_ahead=max_ahead,
                               from_both_ends=tuning.from_both_ends)

        fetcher = start_fetcher()
        # Rows the caller has not committed yet are invisible to the writers' own connections.
        workers = 1 if transaction.get_connection().in_atomic_block else tuning.apply_workers
        writer = _PageWriter(connection=connection, run=run, mapping=mapping, on_page=on_page, result=result,
                             workers=workers, tuning=tuning)
        while True:
            kind, payload = fetcher.get()
            if kind == "end":
                disconnect_check(force=True)  # pages written since the last check stay; the run is not "succeeded"
                break
            if kind == "error":
                if not isinstance(payload, _RefreshInMainThread):
                    raise payload
                relay(force_refresh=True)  # in this thread: may raise ConnectionInactive
                fetcher.close()
                # Every page a stream fetched before its failure was delivered (FIFO): continue after the last.
                fetcher = start_fetcher()
                continue
            # Pages that arrived while the last write ran are written together: one transaction and one set
            # of lookups for several pages, which matters when GHL's window hands out a burst at once.
            pages = [payload, *fetcher.more_pages(tuning.pages_per_write - 1)]
            contacts = [contact for fetched_page in pages for contact in fetched_page.contacts]
            written_cursors = {p.stream: p.next_cursor for p in pages if p.next_cursor}
            cursors.update(written_cursors)
            fetched += len(contacts)
            result.requests += len(pages)
            disconnect_check()  # also keeps the fetcher's token fresh
            writer.submit(contacts=contacts, pages=len(pages), total=pages[-1].total, cursors=written_cursors)
            run = writer.collect(block=False) or run
        run = writer.collect(block=True) or run
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


def _walk_cursors(run: SyncRun) -> dict[str, Any]:
    """Where each walk continues, from the run's saved cursor (empty for a run that starts over)."""
    return {k: v for k, v in (run.cursor or {}).items() if k in (HEAD, TAIL) and v}


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
    cursors: dict[str, Any] = field(default_factory=dict)  # stream → the cursor after its last written page
    counts: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)

    def add(self, *, counts: dict[str, int], done: int, total: int | None, refusals: dict[str, str],
            cursors: dict[str, Any]) -> None:
        self.pages += 1
        self.done += done
        self.total = total if total is not None else self.total
        self.cursors.update(cursors)
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
                 tuning: PullTuning, on_page: Callable[[SyncRun], None] | None, result: "PullResult"):
        self.connection, self.run, self.on_page, self.result = connection, run, on_page, result
        self.mapping = mapping
        self.sync_targets = SyncTargetsCache(connection.organization_id,
                                             max_age=tuning.disconnect_check_seconds)
        self.workers = max(1, workers)
        self.pending: deque = deque()
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ghl-pull-write") \
            if self.workers > 1 else None
        self.local = threading.local()
        self.unsaved = _Progress()
        self.cursors = _walk_cursors(run)
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
        records = records_from_search_page(self._thread_mapping(), contacts)
        page_result = contact_apply_remote_page(
            organization=self.connection.organization, provider=PROVIDER, account_id=self.connection.location_id,
            connection_id=self.connection.pk, records=records, sync_targets=self.sync_targets)
        return page_result.counts, len(records), page_result.errors

    def submit(self, *, contacts, pages: int, total, cursors: dict[str, Any]) -> None:
        if self.pool is None:
            future: Future = Future()
            try:
                future.set_result(self._write(contacts))
            except BaseException as exc:
                future.set_exception(exc)
        else:
            future = self.pool.submit(self._write, contacts)
        self.pending.append((future, pages, total, cursors))
        if len(self.pending) >= self.workers * 2:  # bounded: wait for the oldest
            self.pending[0][0].result()

    def collect(self, *, block: bool, raise_errors: bool = True) -> SyncRun | None:
        """Advance the cursor over every finished page at the head; raise the first failure. The run is
        saved at most every ``tuning.progress_seconds`` and always when blocking (the end, a stop)."""
        advanced = None
        while self.pending and (block or self.pending[0][0].done()):
            future, pages, total, cursors = self.pending[0]
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
            self.unsaved.add(counts=counts, done=done, total=total, refusals=refusals, cursors=cursors)
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
        self.cursors.update(unsaved.cursors)
        self.run = sync_run_advance(run=self.run, counts=unsaved.counts, done=unsaved.done, total=unsaved.total,
                                    refusals=unsaved.refusals, cursor=dict(self.cursors) if self.cursors else None)
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
class _FetchedPage:
    stream: str  # HEAD (oldest first) or TAIL (newest first)
    contacts: list[dict[str, Any]]
    next_cursor: Any  # the stream's ``searchAfter`` after this page
    total: int | None


class _Prefetcher:
    """Fetches pages on helper threads as fast as GHL's rate limit allows, up to ``max_ahead`` pages ahead.

    Pages come from ``POST /contacts/search`` by ``dateAdded`` with ``searchAfter``: one stream from the oldest
    contact (HEAD) and, with ``from_both_ends`` on a location of more than two pages, a second from the newest
    (TAIL, descending), each resuming after its cursor in ``cursors``. A keyset walk is one request after
    another, so its pace is one round trip per page; two walks towards each other spend each burst of GHL's
    window in half the time (see the module docstring for why that sets the pull's end). Where they meet,
    each drops the contacts the other has already taken (compared by their sort key) and stops; at most one
    page is fetched twice. A stream also stops at a short page or a missing cursor, never on GHL's ``total``
    alone (a count that understates would leave contacts unfetched); near the end the count only sizes the
    last request so that it comes back short (`_claim`).

    `get` returns ``("page", _FetchedPage)``, then ``("end", None)`` once every stream ended, or ``("error", exc)``.
    """

    def __init__(self, client: GhlClient, *, cursors: dict[str, Any], page_size: int, already: int,
                 max_ahead: int, from_both_ends: bool = False):
        self.client, self.page_size, self.seen = client, page_size, already
        self.from_both_ends = from_both_ends
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, max_ahead))
        self.held: tuple | None = None  # an item `more_pages` took off the queue but must not hand out yet
        self.stop = threading.Event()
        self.lock = threading.Lock()
        # Sort key of the last contact each stream took: HEAD takes keys above its mark, TAIL below its own.
        self.marks: dict[str, tuple | None] = {HEAD: _sort_key(cursors.get(HEAD)), TAIL: _sort_key(cursors.get(TAIL))}
        self.running = 1
        self.total: int | None = None  # GHL's count, from the latest page
        self.claimed = 0  # contacts the requests in flight may bring
        self.met = False  # the walks met: nothing is left between them
        self.threads = [threading.Thread(target=self._run, args=(HEAD, cursors.get(HEAD)),
                                         name="ghl-pull-fetch", daemon=True)]
        if cursors.get(TAIL) is not None:  # a resumed pull that was fetching from both ends
            self._start_tail(cursors[TAIL])
        self.threads[0].start()

    def _start_tail(self, cursor: Any) -> None:
        with self.lock:
            self.running += 1
        thread = threading.Thread(target=self._run, args=(TAIL, cursor), name="ghl-pull-fetch-tail", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run(self, stream: str, cursor: Any) -> None:
        sort = [{"field": "dateAdded", "direction": "desc"}] if stream == TAIL else None
        try:
            while not self.stop.is_set():
                with self.lock:
                    size = self._claim()
                if size is None:
                    break
                try:
                    page = self.client.contacts.search(page_limit=size, search_after=cursor, sort=sort)
                finally:
                    with self.lock:
                        self.claimed -= size
                fetched = page.get("contacts") or []
                total = page.get("total") if isinstance(page.get("total"), int) else None
                contacts, met = self._take(stream, fetched)
                next_cursor = contacts[-1].get("searchAfter") if contacts else cursor
                # Nothing else here (the writers map): the next request goes as soon as the window allows.
                self._put(("page", _FetchedPage(stream, contacts, next_cursor, total)))
                with self.lock:
                    self.seen += len(contacts)
                    self.total = total if total is not None else self.total
                    tail_wanted = (stream == HEAD and self.from_both_ends and len(self.threads) == 1
                                   and total is not None and total - self.seen > 2 * self.page_size
                                   and _sort_key(next_cursor) is not None)
                if met or len(fetched) < size or not next_cursor:
                    break
                if tail_wanted:
                    self._start_tail(None)
                cursor = next_cursor
        except BaseException as exc:  # handed to the main thread, which decides
            self._put(("error", exc))
        finally:
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                self._put(("end", None))

    def _claim(self) -> int | None:
        """The size of this stream's next request, or None to stop (caller holds the lock).

        Near the meeting point GHL's count says what is left. One walk asks for it plus one contact, which
        shows the meeting within the same request (the extra one is the other walk's); the other walk stops
        rather than ask for it too: under GHL's sliding window one request too many costs a whole window. A
        walk on its own asks for the rest plus one contact too, so an exact count ends it with a short page and
        no extra request. A walk left alone with the count used up (it understates) goes on by full pages
        until it meets or a page comes back short.
        """
        if self.met:
            return None
        left = None if self.total is None else self.total - self.seen - self.claimed
        if left is not None and left <= 0 and self.running > 1:
            return None
        size = left + 1 if left is not None and 0 < left <= self.page_size else self.page_size
        size = min(size, SEARCH_MAX_PAGE_LIMIT)  # no room to look ahead: the end then costs one more request
        self.claimed += size
        return size

    def _take(self, stream: str, contacts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        """The contacts of a page the other stream has not taken, and whether the streams met (then every
        contact between the two starting points has been taken, and both stop)."""
        other = TAIL if stream == HEAD else HEAD
        with self.lock:
            limit = self.marks[other]
            taken = []
            met = False
            for contact in contacts:
                key = _sort_key(contact.get("searchAfter"))
                if limit is not None and (key is None or (key >= limit if stream == HEAD else key <= limit)):
                    met = self.met = True
                    break
                taken.append(contact)
            if taken:
                self.marks[stream] = _sort_key(taken[-1].get("searchAfter"))
            return taken, met

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
        """Up to ``limit`` more pages that are already fetched, without waiting; an end or error stays queued."""
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
