"""Client-side rate limiting for GHL: 100 requests per rolling 10 s and 200,000 per day, per app per location.

The burst limit is a *sliding log*: a request may start when fewer than ``limit`` requests are in the last
``window`` (+ a small margin) or still in flight. GHL counts a request when it *arrives*, which we cannot see; what
we can see is that it had arrived by the time its response came back. So a slot taken for a request
(:meth:`RateLimiter.acquire_slot`) counts as *in flight*, however long that takes, until its response arrives
(:meth:`RateLimiter.complete`), and is stamped then: request N+100 starts a window after request N's response,
hence arrives a window after request N did, however much the latency varies. (Stamping at send time alone lets a
request delayed on the way in land less than a window after the one 100 later, and GHL answers 429. So did letting
an in-flight slot leave the window a window after its go-ahead: a thread stalled that long between the go-ahead and
the wire, by a busy host, a garbage collection or a slow token refresh, reached GHL after the requests its expired
slot had let go.) A slot whose request never reports back (its process died) stays in flight
``IN_FLIGHT_TTL_S`` and then counts as if its request had arrived at that moment. For one sequential caller this
costs a response time per window: pulling 300 pages costs ``(300 - 100) / 10`` s plus a few tens of ms.

Two implementations share one interface:

* :class:`RedisRateLimiter`: one sorted set per key in Redis, updated by one atomic Lua script that uses Redis'
  own clock (``TIME``), so every process and host shares the window without clock skew between them. When Redis is
  unreachable it logs ``ghl.ratelimit.redis-unavailable`` and falls back to the in-process limiter for a cooldown.
* :class:`LocalRateLimiter`: the same algorithm in process memory, thread-safe. Used when ``REDIS_URL`` is empty.

`default_rate_limiter` hands every client of a process the same limiter (callers that may wait less for a slot get
a view of it, :meth:`RateLimiter.with_max_wait`), so a location's pushes and pulls share one window even without
Redis.

Both read GHL's ``X-RateLimit-*`` response headers (:meth:`RateLimiter.sync_headers`): when the server reports
fewer remaining requests than we believe we have (someone else uses the same app quota, or our state was lost),
placeholder entries are added so we slow down to the server's view. The server counted its remaining requests
when the request arrived; ours are taken as of when the request was sent if that is fewer, since entries that
left our window while the response was on its way back (or waiting for the GIL) are not requests the server
forgot. (Comparing with the count at sync time alone added a window's worth of placeholders whenever a few of
our entries expired during one request, and a back-to-back pull lost a whole window.) A 429 holds every process
off the key for the retry delay (:meth:`RateLimiter.hold`). Threads of one process waiting for a full window
queue first come first served; only the first in line asks the store (:meth:`RateLimiter.acquire_slot`).
"""

from __future__ import annotations

import bisect
import copy
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from .exceptions import GhlRateLimited

logger = logging.getLogger(__name__)

REDIS_RETRY_AFTER_S = 30.0
MAX_IN_FLIGHT = 1000
#: How long a slot stays in flight without its :meth:`RateLimiter.complete` (its thread or process died): longer
#: than a request can take to reach GHL (a token refresh and the connection, each within GHL_HTTP_CONNECT_TIMEOUT
#: + GHL_HTTP_TIMEOUT), short enough that a crashed worker's slots do not block a location for long. It then
#: counts a window more, as if its request had arrived at that moment.
IN_FLIGHT_TTL_S = 60.0
DAY_S = 86_400

# Limits GHL advertised (stored by any process in the KEYS[3] hash) win over the configured ones in ARGV.
LIMITS_LUA = """
local learned = redis.call('HMGET', KEYS[3], 'limit', 'window_ms', 'daily_limit')
local limit = tonumber(learned[1] or ARGV[1])
local window = tonumber(learned[2] or ARGV[2])
local daily = tonumber(learned[3] or ARGV[3])
"""

# The window's zset KEYS[1] lives as long as its latest member counts (a slot in flight is scored at the end of its
# lease, in the future): a fixed TTL of a window would drop slots still in flight when the key sees no other use.
KEEP_LUA = """
local function keep(now, window)
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', KEYS[1], math.max(tonumber(last[2]) - now, 0) + window + 1000)
  end
end
"""

# KEYS[1] sliding-window zset, KEYS[2] daily counter prefix, KEYS[3] learned limits hash.
# ARGV: limit, window_ms (incl. margin), daily_limit, member, in_flight_ttl_ms.  Returns {state, wait_ms}, or
# {0, 0, remaining} once acquired: state 0 = acquired, 1 = burst window full, 2 = daily quota spent.
# The member acquired is in flight: scored at the end of its lease (now + in_flight_ttl_ms), so it counts until its
# response re-stamps it (COMPLETE_LUA, SYNC_LUA), or until a window after its lease if that never comes. Members
# scored in the future are in flight; they free a window after their response at the earliest.
ACQUIRE_LUA = (
    LIMITS_LUA
    + KEEP_LUA
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local day = math.floor(tonumber(t[1]) / 86400)
local dkey = KEYS[2] .. ':' .. day
local used = tonumber(redis.call('GET', dkey) or '0')
if used >= daily then
  return {2, (day + 1) * 86400000 - now}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[4])
  keep(now, window)
  redis.call('INCR', dkey)
  redis.call('EXPIRE', dkey, 172800)
  return {0, 0, limit - count - 1}
end
local entry = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local frees = tonumber(entry[2])
if frees > now then
  frees = now
end
return {1, frees + window - now + 1}
"""
)

# Bring our view in line with the server's. ARGV: limit, window_ms, daily_limit, server_remaining (-1 = unknown),
# tolerance, server_daily_remaining (-1 = unknown), member prefix, hold_ms (-1 = placeholders live a whole window,
# else they expire hold_ms from now), remaining_at_send (-1 = unknown; our count when the request was sent, used
# when lower), completed slot ('' = none: else re-stamp it now first, as COMPLETE_LUA does, in the same round trip).
# Returns the number of placeholders added.
SYNC_LUA = (
    LIMITS_LUA
    + KEEP_LUA
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[10] and ARGV[10] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[10])
  keep(now, window)
end
local remaining = tonumber(ARGV[4])
local tolerance = tonumber(ARGV[5])
local daily_remaining = tonumber(ARGV[6])
local added = 0
if remaining >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local local_remaining = limit - redis.call('ZCARD', KEYS[1])
  local at_send = tonumber(ARGV[9] or '-1')
  if at_send >= 0 and at_send < local_remaining then
    local_remaining = at_send
  end
  local gap = local_remaining - remaining
  if gap > tolerance then
    local score = now
    local hold = tonumber(ARGV[8])
    if hold >= 0 then
      score = now - window + hold
    end
    for i = 1, gap do
      redis.call('ZADD', KEYS[1], score, ARGV[7] .. ':' .. i)
    end
    keep(now, window)
    added = gap
  end
end
if daily_remaining >= 0 then
  local dkey = KEYS[2] .. ':' .. math.floor(tonumber(t[1]) / 86400)
  local server_used = daily - daily_remaining
  local used = tonumber(redis.call('GET', dkey) or '0')
  if server_used > used then
    redis.call('SET', dkey, server_used, 'EX', 172800)
  end
end
return added
"""
)

# The response to the request holding slot ARGV[1] arrived: it is no longer in flight; stamp it now (re-adding it if
# its lease ran out and it left the window, which errs on the safe side). KEYS[1] sliding-window zset; ARGV: member,
# window_ms.
COMPLETE_LUA = KEEP_LUA + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
keep(now, tonumber(ARGV[2]))
return 1
"""


@dataclass(frozen=True)
class RateLimitConfig:
    limit: int = 100
    window_s: float = 10.0
    daily_limit: int = 200_000
    margin_ms: int = 50
    max_wait_s: float = 60.0
    #: Server may report up to this many fewer remaining requests than we think before we add placeholders
    #: (requests in flight make the two views differ by one or two).
    sync_tolerance: int = 1
    key_prefix: str = "ghl:rl"

    @property
    def window_ms(self) -> int:
        return int(self.window_s * 1000) + self.margin_ms

    @classmethod
    def from_settings(cls) -> RateLimitConfig:
        """GHL's documented limits (the headers of its answers correct them per key), under the deployment's
        Redis key prefix (``GHL_RATE_LIMIT_KEY_PREFIX``: deployments sharing one Redis keep apart)."""
        from django.conf import settings

        return cls(key_prefix=settings.GHL_RATE_LIMIT_KEY_PREFIX)


@dataclass(frozen=True)
class Limits:
    """The limits in force for one key: configured, or learned from GHL's headers."""

    limit: int
    window_ms: int
    daily_limit: int


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name.lower())
    if value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


class RateLimiter:
    """Interface. ``key`` is the GHL resource the quota belongs to (a location id, or a company id)."""

    def __init__(
        self,
        config: RateLimitConfig | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or RateLimitConfig()
        self._sleep = sleep
        self._clock = clock
        self._learned: dict[str, Limits] = {}
        # slot id -> the requests we believed remained once it was taken, until its response's headers are read
        self._remaining_at_send: dict[str, int] = {}
        self._at_send_lock = threading.Lock()
        # key -> this process's threads waiting for a slot, first come first served (`acquire_slot`)
        self._waiting: dict[str, deque[threading.Event]] = {}
        self._waiting_lock = threading.Lock()

    def with_max_wait(self, max_wait_s: float) -> RateLimiter:
        """This limiter, waiting at most ``max_wait_s`` for a slot: a view sharing every count, hold and learned
        limit with it (and with its other views), so callers that tolerate different waits (a push rescheduled
        after a second, a pull that may wait a window) still share one window per key."""
        if max_wait_s == self.config.max_wait_s:
            return self
        view = copy.copy(self)  # shallow: the state containers (and their locks) are the same objects
        view.config = replace(self.config, max_wait_s=max_wait_s)
        return view

    def limits(self, key: str) -> Limits:
        """Limits for ``key``: what GHL last advertised for it, else the configured ones."""
        learned = self._learned.get(key)
        if learned is not None:
            return learned
        return Limits(self.config.limit, self.config.window_ms, self.config.daily_limit)

    def acquire(self, key: str) -> float:
        """Block until a request for ``key`` may start; return the seconds waited.

        Raises :class:`GhlRateLimited` (status ``None``) when the wait would exceed ``config.max_wait_s``
        (always the case once the daily quota is spent). The slot is stamped at this moment, as if the request had
        arrived at once; prefer :meth:`acquire_slot` + :meth:`complete` around a real request.
        """
        waited, member = self.acquire_slot(key)
        self.complete(key, member)
        return waited

    def acquire_slot(self, key: str) -> tuple[float, str]:
        """Like :meth:`acquire`, and also return the slot's id, to pass to :meth:`complete` once the response is in
        (or the request failed). Until then the slot is in flight: it holds its place in the window however long
        the request takes to get to GHL (at most ``IN_FLIGHT_TTL_S``, for a caller that died).

        A caller that finds the window full queues behind this process's other callers waiting for the same
        key, first come first served: only the first in line asks the store and sleeps until the next slot
        frees, then hands over to the next. (Each waiter polling on its own woke every waiter at every freed
        slot, all asking the store for the one slot: with a pull's hundred fetch threads that was ~100 store
        calls per slot, and the GIL they held spread each burst of the window over more than a second.)"""
        member = uuid.uuid4().hex
        started = self._clock()
        deadline = started + self.config.max_wait_s
        acquired = self._acquire_or_wait(key, member, started, deadline, sleep=False)
        if acquired is not None:
            return acquired, member
        turn = threading.Event()
        with self._waiting_lock:
            line = self._waiting.setdefault(key, deque())
            line.append(turn)
            if line[0] is turn:
                turn.set()
        try:
            while True:
                if not turn.wait(max(0.0, deadline - self._clock())):
                    wait_s = max(0.0, deadline - started)
                    logger.warning("ghl.ratelimit.max-wait-exceeded",
                                   extra={"ratelimit_key": key, "reason": "queued", "wait_s": round(wait_s, 3)})
                    raise GhlRateLimited(f"GHL rate limit: burst window full, still queued after {wait_s:.1f}s",
                                         retry_after=wait_s)
                acquired = self._acquire_or_wait(key, member, started, deadline, sleep=True)
                if acquired is not None:
                    return acquired, member
        finally:
            with self._waiting_lock:
                first = line[0] is turn
                line.remove(turn)
                if first and line:
                    line[0].set()
                if not line and self._waiting.get(key) is line:
                    del self._waiting[key]

    def _acquire_or_wait(self, key: str, member: str, started: float, deadline: float, *,
                         sleep: bool) -> float | None:
        """One try for a slot: the seconds waited since ``started`` once acquired, else None after sleeping
        until the next slot frees (with ``sleep``: the caller is first in line). Raises
        `GhlRateLimited` when that is past ``deadline`` (always so once the daily quota is spent)."""
        state, wait_ms, *remaining = self._try_acquire(key, member)
        if state == 0:
            if remaining:
                self._remember_remaining_at_send(member, remaining[0])
            waited = self._clock() - started
            if waited > 0.001:
                logger.debug("ghl.ratelimit.waited", extra={"ratelimit_key": key, "waited_s": round(waited, 3)})
            return waited
        wait_s = max(wait_ms, 1) / 1000.0
        if self._clock() + wait_s > deadline:
            reason = "daily quota spent" if state == 2 else "burst window full"
            logger.warning(
                "ghl.ratelimit.max-wait-exceeded",
                extra={"ratelimit_key": key, "reason": reason, "wait_s": round(wait_s, 3)},
            )
            raise GhlRateLimited(f"GHL rate limit: {reason}, next slot in {wait_s:.1f}s", retry_after=wait_s)
        if sleep:
            self._sleep(wait_s)
        return None

    def _remember_remaining_at_send(self, member: str, remaining: int) -> None:
        with self._at_send_lock:
            if len(self._remaining_at_send) >= MAX_IN_FLIGHT:  # slots whose response never came: forget the oldest
                for old in list(self._remaining_at_send)[: MAX_IN_FLIGHT // 2]:
                    del self._remaining_at_send[old]
            self._remaining_at_send[member] = remaining

    def sync_headers(self, key: str, headers: Mapping[str, str], *, slot: str | None = None,
                     complete: bool = False) -> None:
        """Adjust to the ``X-RateLimit-*`` headers of a GHL response (names compared case-insensitively).
        ``slot``: the response's slot from :meth:`acquire_slot` (its count at send time, see the module docstring).
        ``complete=True`` also does :meth:`complete` for ``slot``, first, in the same round trip to the store: a
        pull's page requests form a chain, and every round trip on it waits for the GIL behind the page writers."""
        with self._at_send_lock:
            remaining_at_send = self._remaining_at_send.pop(slot, -1) if slot else -1
        headers = {str(k).lower(): v for k, v in headers.items()}
        self._learn(key, headers)
        remaining = _header_int(headers, "X-RateLimit-Remaining")
        daily_remaining = _header_int(headers, "X-RateLimit-Daily-Remaining")
        completed = slot if complete and slot else None
        if remaining is None and daily_remaining is None:
            if completed:
                self.complete(key, completed)
            return
        added = self._sync(
            key,
            -1 if remaining is None else remaining,
            self.config.sync_tolerance,
            -1 if daily_remaining is None else daily_remaining,
            remaining_at_send=remaining_at_send,
            completed=completed,
        )
        if added:
            logger.info(
                "ghl.ratelimit.sync", extra={"ratelimit_key": key, "server_remaining": remaining, "added": added}
            )

    def _learn(self, key: str, headers: Mapping[str, str]) -> None:
        # GHL advertises its window (X-RateLimit-Max per X-RateLimit-Interval-Milliseconds) and daily quota; the
        # server is the authority, so adopt them (a sandbox run with small limits, or GHL changing its numbers).
        current = self.limits(key)
        server_max = _header_int(headers, "X-RateLimit-Max")
        interval_ms = _header_int(headers, "X-RateLimit-Interval-Milliseconds")
        daily = _header_int(headers, "X-RateLimit-Limit-Daily")
        learned = Limits(
            server_max if server_max and server_max > 0 else current.limit,
            interval_ms + self.config.margin_ms if interval_ms and interval_ms > 0 else current.window_ms,
            daily if daily and daily > 0 else current.daily_limit,
        )
        if learned != current:
            self._learned[key] = learned
            logger.info(
                "ghl.ratelimit.learned",
                extra={
                    "ratelimit_key": key,
                    "limit": learned.limit,
                    "window_ms": learned.window_ms,
                    "daily_limit": learned.daily_limit,
                },
            )

    def hold(self, key: str, seconds: float) -> None:
        """GHL answered 429: no request for ``key`` may start for ``seconds``, in any process sharing the limiter.

        Implemented by filling the window with placeholders that expire ``seconds`` from now.
        """
        hold_ms = max(0, min(int(seconds * 1000), self.limits(key).window_ms))
        self._sync(key, 0, 0, -1, hold_ms)
        logger.info("ghl.ratelimit.hold", extra={"ratelimit_key": key, "hold_s": round(hold_ms / 1000, 3)})

    def complete(self, key: str, member: str) -> None:
        """The request holding slot ``member`` got its response (or failed): it certainly reached the server by now,
        so the slot counts from now. Never raises."""
        self._complete(key, member)

    # Implementations: return (state, wait_ms[, remaining once acquired]) / placeholders added / nothing.
    def _try_acquire(self, key: str, member: str) -> tuple[int, ...]:
        raise NotImplementedError

    def _complete(self, key: str, member: str) -> None:
        raise NotImplementedError

    def _sync(self, key: str, remaining: int, tolerance: int, daily_remaining: int, hold_ms: int = -1,
              remaining_at_send: int = -1, completed: str | None = None) -> int:
        raise NotImplementedError


class _LocalState:
    __slots__ = ("entries", "day", "used", "in_flight")

    def __init__(self) -> None:
        self.entries: list[float] = []  # stamps of answered requests (their response time) and placeholders, sorted
        self.day = -1
        self.used = 0
        # slot id -> its go-ahead time, oldest first: slots in flight, which count until complete() stamps them
        self.in_flight: dict[str, float] = {}


class LocalRateLimiter(RateLimiter):
    """In-process sliding log, shared by every thread using this instance."""

    def __init__(self, config: RateLimitConfig | None = None, *, wall_clock: Callable[[], float] = time.time, **kw):
        super().__init__(config, **kw)
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._states: dict[str, _LocalState] = {}

    def _state(self, key: str, now: float) -> _LocalState:
        state = self._states.setdefault(key, _LocalState())
        window = self.limits(key).window_ms / 1000.0
        while state.in_flight:  # a slot whose caller never completed it: counts as if answered at its lease's end
            member, went = next(iter(state.in_flight.items()))
            if went > now - IN_FLIGHT_TTL_S:
                break
            del state.in_flight[member]
            bisect.insort(state.entries, went + IN_FLIGHT_TTL_S)
        expired = bisect.bisect_right(state.entries, now - window)
        if expired:
            del state.entries[:expired]
        day = int(self._wall_clock() // DAY_S)
        if day != state.day:
            state.day, state.used = day, 0
        return state

    def _try_acquire(self, key: str, member: str) -> tuple[int, ...]:
        with self._lock:
            now = self._clock()
            state = self._state(key, now)
            limits = self.limits(key)
            if state.used >= limits.daily_limit:
                return 2, int(((state.day + 1) * DAY_S - self._wall_clock()) * 1000)
            count = len(state.entries) + len(state.in_flight)
            if count < limits.limit:
                state.in_flight[member] = now
                state.used += 1
                return 0, 0, limits.limit - count - 1
            # Answered slots free in stamp order; one in flight frees a window after its response at the earliest.
            first = count - limits.limit
            frees_at = (state.entries[first] if first < len(state.entries) else now) + limits.window_ms / 1000.0
            return 1, int((frees_at - now) * 1000) + 1

    def _complete(self, key: str, member: str) -> None:
        with self._lock:
            now = self._clock()
            state = self._state(key, now)
            if state.in_flight.pop(member, None) is None:
                return  # unknown, or its lease ran out (then it already counts as answered at the lease's end)
            bisect.insort(state.entries, now)

    def _sync(self, key: str, remaining: int, tolerance: int, daily_remaining: int, hold_ms: int = -1,
              remaining_at_send: int = -1, completed: str | None = None) -> int:
        if completed:
            self._complete(key, completed)
        with self._lock:
            now = self._clock()
            state = self._state(key, now)
            limits = self.limits(key)
            added = 0
            if remaining >= 0:
                local_remaining = limits.limit - len(state.entries) - len(state.in_flight)
                if 0 <= remaining_at_send < local_remaining:
                    local_remaining = remaining_at_send
                gap = local_remaining - remaining
                if gap > tolerance:
                    score = now if hold_ms < 0 else now - (limits.window_ms - hold_ms) / 1000.0
                    for _ in range(gap):
                        bisect.insort(state.entries, score)
                    added = gap
            if daily_remaining >= 0:
                state.used = max(state.used, limits.daily_limit - daily_remaining)
            return added


class RedisRateLimiter(RateLimiter):
    """Sliding log in Redis, shared by every process. Falls back to ``fallback`` while Redis is unreachable."""

    def __init__(
        self,
        redis_client,
        config: RateLimitConfig | None = None,
        *,
        fallback: RateLimiter | None = None,
        **kw,
    ) -> None:
        super().__init__(config, **kw)
        self._redis = redis_client
        self._fallback = fallback or LocalRateLimiter(self.config, sleep=self._sleep, clock=self._clock)
        self._fallback._learned = self._learned  # what GHL advertised holds whichever store is in use
        self._acquire_script = redis_client.register_script(ACQUIRE_LUA)
        self._sync_script = redis_client.register_script(SYNC_LUA)
        self._complete_script = redis_client.register_script(COMPLETE_LUA)
        self._down = {"until": 0.0}  # a container, so views from `with_max_wait` share the outage

    @classmethod
    def from_url(cls, url: str, config: RateLimitConfig | None = None, **kw) -> RedisRateLimiter:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2.0)
        return cls(client, config, **kw)

    def _keys(self, key: str) -> list[str]:
        base = f"{self.config.key_prefix}:{key}"
        return [f"{base}:win", f"{base}:day", f"{base}:limits"]

    def _learn(self, key: str, headers: Mapping[str, str]) -> None:
        import redis

        before = self._learned.get(key)
        super()._learn(key, headers)
        learned = self._learned.get(key)
        if learned is None or learned == before or not self._redis_ok():
            return
        # Share what GHL advertised with every process, so none runs on stale limits.
        limits_key = self._keys(key)[2]
        try:
            pipe = self._redis.pipeline()
            pipe.hset(
                limits_key,
                mapping={
                    "limit": learned.limit,
                    "window_ms": learned.window_ms,
                    "daily_limit": learned.daily_limit,
                },
            )
            pipe.pexpire(limits_key, DAY_S * 1000)
            pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._redis_failed(exc)

    def _redis_ok(self) -> bool:
        return self._clock() >= self._down["until"]

    def _redis_failed(self, exc: Exception) -> None:
        self._down["until"] = self._clock() + REDIS_RETRY_AFTER_S
        logger.warning(
            "ghl.ratelimit.redis-unavailable",
            extra={"error": type(exc).__name__, "fallback_for_s": REDIS_RETRY_AFTER_S},
        )

    def _try_acquire(self, key: str, member: str) -> tuple[int, ...]:
        import redis

        if self._redis_ok():
            limits = self.limits(key)
            args = [limits.limit, limits.window_ms, limits.daily_limit, member, int(IN_FLIGHT_TTL_S * 1000)]
            try:
                return tuple(int(v) for v in self._acquire_script(keys=self._keys(key), args=args))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_failed(exc)
        return self._fallback._try_acquire(key, member)

    def _complete(self, key: str, member: str) -> None:
        import redis

        # A slot taken from the fallback is only known there; re-stamping it in both is harmless (ZADD of an
        # unknown member adds one placeholder that leaves the window with the others).
        self._fallback._complete(key, member)
        if self._redis_ok():
            try:
                self._complete_script(keys=self._keys(key)[:1], args=[member, self.limits(key).window_ms])
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_failed(exc)

    def _sync(self, key: str, remaining: int, tolerance: int, daily_remaining: int, hold_ms: int = -1,
              remaining_at_send: int = -1, completed: str | None = None) -> int:
        import redis

        if completed:
            self._fallback._complete(key, completed)  # as `_complete` does: the slot may be the fallback's
        if self._redis_ok():
            limits = self.limits(key)
            args = [
                limits.limit,
                limits.window_ms,
                limits.daily_limit,
                remaining,
                tolerance,
                daily_remaining,
                f"sync:{uuid.uuid4().hex}",
                hold_ms,
                remaining_at_send,
                completed or "",
            ]
            try:
                return int(self._sync_script(keys=self._keys(key), args=args))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._redis_failed(exc)
        return self._fallback._sync(key, remaining, tolerance, daily_remaining, hold_ms, remaining_at_send)


_default_lock = threading.Lock()
_default: dict[tuple, RateLimiter] = {}


def default_rate_limiter(*, max_wait_s: float | None = None) -> RateLimiter:
    """The process-wide limiter for the current settings: Redis-backed when ``REDIS_URL`` is set (shared by every
    process), else in process memory. Whatever ``max_wait_s`` (how long a caller blocks for a slot: work that would
    rather be rescheduled than hold its worker asks for little), every caller in the process gets a view of the
    same limiter, so pushes and pulls of one location count against one window, with or without Redis."""
    from django.conf import settings

    config = RateLimitConfig.from_settings()
    redis_url = getattr(settings, "REDIS_URL", "") or ""
    cache_key = (redis_url, config)
    with _default_lock:
        limiter = _default.get(cache_key)
        if limiter is None:
            limiter = RedisRateLimiter.from_url(redis_url, config) if redis_url else LocalRateLimiter(config)
            _default[cache_key] = limiter
        if max_wait_s is None or max_wait_s == config.max_wait_s:
            return limiter
        view_key = (*cache_key, max_wait_s)
        view = _default.get(view_key)
        if view is None:
            view = _default[view_key] = limiter.with_max_wait(max_wait_s)
        return view
