"""Wake the inbox drain without one broker message per event.

A stored event "rings": it asks for a drain task (`drain_webhook_inbox_task`), which claims every waiting event
in batches. Debounced (`tuning.DOORBELL`, on when `REDIS_URL` is set) a ring is one atomic `SET NX EX` of a
"drain queued" flag in Redis, and only the ring that sets the flag publishes. Why no event is left
behind: the drain clears the flag *before* it looks for work, so

* an event committed before the flag was cleared is seen by the drain's claim query, and
* an event committed after finds no flag and publishes a new drain.

A lone event's drain is published to start at once. An event ringing within
the burst window (0.1 s) of a drain's start (events faster than ten a second) is part of
a burst: its drain starts the delay (0.2 s) later, so the burst behind it is claimed in batches
rather than by one drain every few events (each drain has a fixed cost).

The receive path rings through the process's `BellRinger` (a background thread, once per statement at most every
`ring_interval_seconds`), so an acknowledgement never waits for Redis or the broker; rows written inside a
transaction ring on its commit.

If the broker loses a drain message, the flag expires after its TTL (30 s), and the
minute requeue sweep rings with `force=True` for events left `received` too long. Any cache or broker trouble
is logged and never raised: the row is already committed, which is what the acknowledgement promised.
"""

import atexit
import functools
import logging
import os
import threading
import time
from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from . import tuning

logger = logging.getLogger(__name__)

DRAIN_QUEUED_FLAG = "ghl:webhook:drain-queued"
DRAIN_STARTED_RECENTLY_FLAG = "ghl:webhook:drain-started-recently"


def webhook_inbox_drain_request(*, force: bool = False) -> None:
    """Ask for a drain once the current transaction commits (at once in autocommit). ``force`` publishes past
    the debounce, at once (the sweep, a replay, a drain handing over)."""
    transaction.on_commit(functools.partial(_ring, force=force))


def webhook_inbox_drain_request_soon() -> None:
    """Ask for a drain for rows already committed, from this process's bell ringer: the caller does not wait
    for Redis or the broker, and the rings of many requests become one (see `BellRinger`)."""
    _bell_ringer().request()


def _ring(*, force: bool = False) -> None:
    bell = tuning.DOORBELL
    debounced = bell.debounced and not force
    if debounced and not _flag_set(bell.flag_ttl_seconds):
        return  # a drain is already queued and has not started yet: it will see this event
    from .tasks import drain_webhook_inbox_task  # tasks import processing, which imports this module

    delay = bell.delay_seconds if debounced and _in_a_burst() else 0
    try:
        drain_webhook_inbox_task.apply_async(countdown=delay or None)
    except Exception as exc:  # broker down: the row is safe; the requeue sweep rings again later
        logger.warning("ghl.webhook.drain-request-failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        if debounced:
            _flag_clear()  # so the next event tries to publish again instead of trusting a lost message


class BellRinger:
    """Rings for committed rows from a background thread, at most once per ``min_interval`` seconds.

    The receive path asks for a ring after each commit; doing it in the request costs a Redis round trip (and
    under a burst the flag is nearly always set already, so it changes nothing). Here a request only sets a
    flag. The thread clears the flag *before* it rings, so a request arriving during a ring gets a ring of its
    own after it: every committed row is followed by a ring that starts after its commit, which is all the
    doorbell needs (see the module docstring). The first ring after a quiet spell goes at once, so a lone
    event is not delayed; within a burst the rings are spaced ``min_interval`` apart, far below the burst's
    drain delay. If the process dies with a ring pending, the events wait for the requeue sweep, as they would
    if it died between the commit and an inline ring; at interpreter exit the pending ring is rung.
    """

    def __init__(self, ring=None, *, min_interval: float | None = None):
        self._ring = ring or _ring
        self._min_interval = tuning.DOORBELL.ring_interval_seconds if min_interval is None else min_interval
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = None
        self._last_ring = float("-inf")
        self.rings = 0  # how many rings were made (for tests and the bench's curiosity)

    def request(self) -> None:
        self._wanted.set()
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._start()

    def flush(self) -> None:
        """Ring now if a ring is pending (interpreter exit)."""
        if self._wanted.is_set():
            self._wanted.clear()
            self._ring_once()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._pid = os.getpid()  # a forked child starts its own thread: threads do not survive a fork
            self._thread = threading.Thread(target=self._run, name="webhook-bell-ringer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            wait = self._last_ring + self._min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._wanted.clear()  # before ringing: a request from now on gets the next ring
            self._ring_once()

    def _ring_once(self) -> None:
        self._last_ring = time.monotonic()
        self.rings += 1
        try:
            self._ring()
        except Exception:  # never let the thread die: the rows are committed, the sweep rings as a last resort
            logger.warning("ghl.webhook.ring-failed", exc_info=True)


_ringer: BellRinger | None = None
_ringer_lock = threading.Lock()


def _bell_ringer() -> BellRinger:
    global _ringer
    if _ringer is None:
        with _ringer_lock:
            if _ringer is None:
                _ringer = BellRinger()
                atexit.register(_ringer.flush)
    return _ringer


def webhook_inbox_drain_started() -> None:
    """Called by a drain before it claims anything: later events must ring again (and are in a burst)."""
    bell = tuning.DOORBELL
    if not bell.debounced:
        return
    try:
        _flag_store().started(DRAIN_QUEUED_FLAG, DRAIN_STARTED_RECENTLY_FLAG, bell.burst_window_seconds)
    except Exception:
        logger.warning("ghl.webhook.drain-flag-unavailable", exc_info=True)


def _in_a_burst() -> bool:
    try:
        return _flag_store().exists(DRAIN_STARTED_RECENTLY_FLAG)
    except Exception:
        logger.warning("ghl.webhook.drain-flag-unavailable", exc_info=True)
        return False


def _flag_set(ttl: int) -> bool:
    """True when this call set the flag (so it must publish); True also when the store is unreachable."""
    try:
        return _flag_store().add(DRAIN_QUEUED_FLAG, ttl)
    except Exception:
        logger.warning("ghl.webhook.drain-flag-unavailable", exc_info=True)
        return True


def _flag_clear() -> None:
    try:
        _flag_store().delete(DRAIN_QUEUED_FLAG)
    except Exception:
        logger.warning("ghl.webhook.drain-flag-unavailable", exc_info=True)


class _RedisFlags:
    # A plain client kept per process: Django's RedisCache builds a new client object on every call, which
    # costs more than the SET itself on this hot path.
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)

    def add(self, key: str, ttl: int) -> bool:
        return bool(self.client.set(key, 1, nx=True, ex=ttl))

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def exists(self, key: str) -> bool:
        return bool(self.client.exists(key))

    def started(self, queued_key: str, recent_key: str, recent_ttl: float) -> None:
        pipe = self.client.pipeline(transaction=False)  # one round trip
        pipe.delete(queued_key)
        pipe.set(recent_key, 1, px=max(1, int(recent_ttl * 1000)))
        pipe.execute()


class _CacheFlags:
    """Without Redis: Django's cache (in-process, so only right when web and worker are one process, as in tests)."""

    def add(self, key: str, ttl: int) -> bool:
        return cache.add(key, 1, timeout=ttl)

    def delete(self, key: str) -> None:
        cache.delete(key)

    def exists(self, key: str) -> bool:
        return cache.get(key) is not None

    def started(self, queued_key: str, recent_key: str, recent_ttl: float) -> None:
        cache.delete(queued_key)
        cache.set(recent_key, 1, timeout=recent_ttl)


@lru_cache(maxsize=4)
def _redis_flags(url: str) -> _RedisFlags:
    return _RedisFlags(url)


def _flag_store():
    return _redis_flags(settings.REDIS_URL) if settings.REDIS_URL else _CacheFlags()
