"""The rate limiter: sliding window, daily quota, header sync, 429 hold, Redis shared by processes, fallback."""

import logging
import multiprocessing
import os
import threading
import time
import uuid

import pytest
import redis
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ghl_integration.client import GhlRateLimited, LocalRateLimiter, RateLimitConfig, RedisRateLimiter
from ghl_integration.client.ratelimit import default_rate_limiter

from .conftest import BASE_URL, FakeClock, api_fixture

REDIS_URL = os.environ.get("GHL_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
CLOSED_PORT_URL = "redis://127.0.0.1:1/3"


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_available(), reason=f"Redis not reachable at {REDIS_URL}")


def assert_sliding_window(timestamps, limit, window_s):
    stamps = sorted(timestamps)
    for i in range(len(stamps) - limit):
        assert stamps[i + limit] - stamps[i] >= window_s, f"{limit + 1} starts within {window_s}s at index {i}"


@pytest.fixture
def redis_prefix():
    prefix = f"test:ghl:rl:{uuid.uuid4().hex}"
    yield prefix
    if _redis_available():
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


# -- in-process limiter (fake clock) --------------------------------------------------------------------------------


def test_local_limiter_is_as_fast_as_the_window_allows(clock):
    # given: GHL's real numbers, 300 requests as the benchmark makes them
    limiter = LocalRateLimiter(RateLimitConfig(margin_ms=50), sleep=clock.sleep, clock=clock)
    starts = []

    # when
    for _ in range(300):
        limiter.acquire("loc")
        starts.append(clock())

    # then: never 101 starts in 10 s, and within a few percent of the floor (300 - 100) / 10 = 20 s
    assert_sliding_window(starts, 100, 10.0)
    elapsed = starts[-1] - starts[0]
    assert 20.0 <= elapsed <= 20.0 * 1.02


def test_local_limiter_keys_are_independent(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=2, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    for key in ("a", "a", "b", "b"):
        limiter.acquire(key)
    assert clock.sleeps == []


def test_daily_quota_raises_rate_limited(clock):
    limiter = LocalRateLimiter(RateLimitConfig(daily_limit=3, max_wait_s=60), sleep=clock.sleep, clock=clock)
    for _ in range(3):
        limiter.acquire("loc")

    with pytest.raises(GhlRateLimited) as info:
        limiter.acquire("loc")

    assert info.value.status is None
    assert "daily" in str(info.value)


def test_max_wait_is_bounded(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=1, window_s=10.0, max_wait_s=2.0), sleep=clock.sleep, clock=clock)
    limiter.acquire("loc")

    with pytest.raises(GhlRateLimited) as info:
        limiter.acquire("loc")

    assert info.value.retry_after == pytest.approx(10.05, abs=0.01)
    assert clock.sleeps == []


def test_header_sync_slows_down_to_the_servers_view(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=20, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    limiter.acquire("loc")

    # the server says only 3 remain (someone else shares the quota); we believed 19
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "3", "X-RateLimit-Max": "20"})

    for _ in range(3):
        limiter.acquire("loc")
    assert clock.sleeps == []
    limiter.acquire("loc")
    assert clock.sleeps and clock.sleeps[0] > 0.9


def test_header_sync_tolerates_requests_in_flight(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=5, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    limiter.acquire("loc")
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "3"})  # we believe 4: off by one is normal
    for _ in range(4):
        limiter.acquire("loc")
    assert clock.sleeps == []


def test_header_sync_compares_with_our_count_when_the_request_was_sent(clock):
    # given: a full window of 5, then the request that the oldest entry's expiry let through
    limiter = LocalRateLimiter(RateLimitConfig(limit=5, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    for _ in range(5):
        limiter.acquire("loc")
        clock.now += 0.1
    clock.now += 0.55
    _, slot = limiter.acquire_slot("loc")
    # while its response comes back, three more of our entries leave the window
    clock.now += 0.3

    # the server counted 5 when the request arrived, as we did when we sent it: nothing to catch up on
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "0"}, slot=slot)

    for _ in range(3):
        limiter.acquire("loc")
    assert clock.sleeps == []  # (compared with our count now, 3 placeholders would have held us a whole window)


def test_header_sync_still_catches_up_with_a_lower_count_sent_by_the_server(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=20, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    _, slot = limiter.acquire_slot("loc")
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "3"}, slot=slot)  # we believed 19
    for _ in range(3):
        limiter.acquire("loc")
    assert clock.sleeps == []
    limiter.acquire("loc")
    assert clock.sleeps and clock.sleeps[0] > 0.9


def test_header_sync_daily_remaining(clock):
    limiter = LocalRateLimiter(RateLimitConfig(daily_limit=1000), sleep=clock.sleep, clock=clock)
    limiter.sync_headers("loc", {"X-RateLimit-Daily-Remaining": "1"})
    limiter.acquire("loc")
    with pytest.raises(GhlRateLimited):
        limiter.acquire("loc")


def test_hold_keeps_every_caller_off_for_the_delay(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=100, window_s=10.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    limiter.acquire("loc")
    limiter.hold("loc", 2.5)
    limiter.acquire("loc")
    assert sum(clock.sleeps) == pytest.approx(2.5, abs=0.01)


def test_client_reads_rate_limit_headers(client, rsps, clock):
    # given: GHL reports its window already full for this location
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Max": "100", "X-RateLimit-Interval-Milliseconds": "10000"}
    url = f"{BASE_URL}/contacts/ocQHyuzHvysMo5N5VsXc"
    rsps.add("GET", url, json=api_fixture("contact"), headers=headers)
    rsps.add("GET", url, json=api_fixture("contact"))

    # when
    client.contacts.get("ocQHyuzHvysMo5N5VsXc")
    client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    # then: the second request waited for the window instead of drawing a 429
    assert sum(clock.sleeps) == pytest.approx(10.05, abs=0.01)


def test_local_limiter_is_thread_safe():
    limiter = LocalRateLimiter(RateLimitConfig(limit=10, window_s=0.4, margin_ms=30))
    starts = []
    lock = threading.Lock()

    def work():
        for _ in range(5):
            limiter.acquire("loc")
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(starts) == 40
    assert_sliding_window(starts, 10, 0.4)


# -- Redis limiter ------------------------------------------------------------------------------------------------


def _redis_worker(url, prefix, config, count, start_at, out):
    limiter = RedisRateLimiter.from_url(url, RateLimitConfig(**config, key_prefix=prefix))
    while time.time() < start_at:
        time.sleep(0.001)
    stamps = []
    for _ in range(count):
        limiter.acquire("shared-location")
        stamps.append(time.time())
    out.put(stamps)


@needs_redis
def test_processes_sharing_redis_never_exceed_the_window(redis_prefix):
    # given: 4 processes, 25 requests each, a 20-per-1s window (GHL's 100/10 s scaled down)
    config = {"limit": 20, "window_s": 1.0, "margin_ms": 50, "max_wait_s": 30.0}
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 0.5
    procs = [
        ctx.Process(target=_redis_worker, args=(REDIS_URL, redis_prefix, config, 25, start_at, out)) for _ in range(4)
    ]

    # when
    for p in procs:
        p.start()
    stamps = [s for _ in procs for s in out.get(timeout=30)]
    for p in procs:
        p.join(timeout=10)

    # then: never 21 starts within 1 s, and not whole windows slower than required (real processes on a
    # possibly loaded machine: the exact pace is the benchmark's business)
    assert len(stamps) == 100
    assert_sliding_window(stamps, 20, 1.0)
    floor = (100 - 20) / 20 * 1.05
    assert max(stamps) - min(stamps) <= floor * 2


@needs_redis
def test_redis_limiter_blocks_then_admits(redis_prefix):
    limiter = RedisRateLimiter.from_url(
        REDIS_URL, RateLimitConfig(limit=5, window_s=0.3, margin_ms=0, key_prefix=redis_prefix)
    )
    # admitted without waiting for the window (a wait would be ≥ 0.2 s; the margin is for a loaded machine)
    for _ in range(5):
        assert limiter.acquire("loc") < 0.15
    waited = limiter.acquire("loc")
    assert 0.2 <= waited <= 0.5


@needs_redis
def test_redis_header_sync_and_hold(redis_prefix):
    limiter = RedisRateLimiter.from_url(
        REDIS_URL, RateLimitConfig(limit=20, window_s=5.0, margin_ms=0, max_wait_s=0.05, key_prefix=redis_prefix)
    )
    limiter.acquire("loc")
    limiter.sync_headers("loc", {"x-ratelimit-remaining": "2"})
    limiter.acquire("loc")
    limiter.acquire("loc")
    with pytest.raises(GhlRateLimited):
        limiter.acquire("loc")

    limiter.hold("other", 0.2)
    started = time.monotonic()
    RedisRateLimiter.from_url(
        REDIS_URL, RateLimitConfig(limit=20, window_s=5.0, margin_ms=0, key_prefix=redis_prefix)
    ).acquire("other")  # another process's limiter sees the hold too
    assert 0.15 <= time.monotonic() - started <= 0.5


@needs_redis
def test_redis_header_sync_compares_with_our_count_when_the_request_was_sent(redis_prefix):
    limiter = RedisRateLimiter.from_url(
        REDIS_URL, RateLimitConfig(limit=3, window_s=0.5, margin_ms=0, max_wait_s=0.05, key_prefix=redis_prefix)
    )
    for _ in range(3):  # a full window: entries at 0, 0.1 and 0.2 s
        limiter.acquire("loc")
        time.sleep(0.1)
    time.sleep(0.25)
    _, slot = limiter.acquire_slot("loc")  # at 0.55 s the first entry has left: we believe none remain
    time.sleep(0.2)  # the other two leave too while the response comes back

    # the server counted 3 when the request arrived, as we did when sending it: nothing to catch up on
    limiter.sync_headers("loc", {"x-ratelimit-remaining": "0"}, slot=slot)

    limiter.acquire("loc")  # max_wait_s=0.05: raises if placeholders were added
    limiter.acquire("loc")


@needs_redis
def test_redis_daily_quota(redis_prefix):
    # The quota is counted per UTC day of Redis' clock: keep the three calls clear of its midnight.
    seconds, _ = redis.Redis.from_url(REDIS_URL).time()
    until_midnight = 86_400 - seconds % 86_400
    if until_midnight < 5:
        time.sleep(until_midnight + 0.1)
    limiter = RedisRateLimiter.from_url(REDIS_URL, RateLimitConfig(daily_limit=2, key_prefix=redis_prefix))
    limiter.acquire("loc")
    limiter.acquire("loc")
    with pytest.raises(GhlRateLimited):
        limiter.acquire("loc")


def test_falls_back_in_process_when_redis_is_down(clock, caplog):
    limiter = RedisRateLimiter.from_url(
        CLOSED_PORT_URL,
        RateLimitConfig(limit=3, window_s=1.0, margin_ms=0),
        sleep=clock.sleep,
        clock=clock,
    )

    with caplog.at_level(logging.WARNING, logger="ghl_integration"):
        for _ in range(4):
            limiter.acquire("loc")

    assert "ghl.ratelimit.redis-unavailable" in [r.getMessage() for r in caplog.records]
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(1.0, abs=0.01)  # the fallback still limits


def test_default_limiter_follows_redis_url(settings):
    settings.REDIS_URL = ""
    assert isinstance(default_rate_limiter(), LocalRateLimiter)
    settings.REDIS_URL = REDIS_URL
    limiter = default_rate_limiter()
    assert isinstance(limiter, RedisRateLimiter)
    assert default_rate_limiter() is limiter  # one per process, shared by every client


def test_without_redis_every_caller_in_the_process_shares_one_window(settings):
    """A push (waits at most a second, then reschedules) and a pull (waits a window) of one location, without
    Redis: the requests of one count against the other's window, as GHL counts them."""
    settings.REDIS_URL = ""
    settings.GHL_RATE_LIMIT_KEY_PREFIX = f"t:{uuid.uuid4().hex}"
    pull = default_rate_limiter()
    push = default_rate_limiter(max_wait_s=0.0)
    assert push.config.max_wait_s == 0.0 and pull.config.max_wait_s == 60.0
    for _ in range(pull.limits("loc").limit):
        pull.acquire("loc")  # the pull used the whole window

    with pytest.raises(GhlRateLimited):
        push.acquire("loc")  # the push sees it: no slot, so it is rescheduled rather than answered 429 by GHL
    push.acquire("other-location")  # another location's window is its own
    assert default_rate_limiter(max_wait_s=0.0) is push  # one view per wait, not a new limiter per client


def test_a_hold_and_learned_limits_reach_every_view(clock):
    limiter = LocalRateLimiter(RateLimitConfig(limit=5, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    quick = limiter.with_max_wait(0.1)
    limiter.sync_headers("loc", {"x-ratelimit-max": "2", "x-ratelimit-interval-milliseconds": "1000"})
    assert quick.limits("loc").limit == 2
    limiter.hold("loc", 0.5)
    with pytest.raises(GhlRateLimited):
        quick.acquire("loc")
    clock.sleep(0.51)
    quick.acquire("loc")


def test_redis_views_share_the_fallback_while_redis_is_down(clock):
    limiter = RedisRateLimiter.from_url(CLOSED_PORT_URL, RateLimitConfig(limit=2, window_s=1.0, margin_ms=0),
                                        sleep=clock.sleep, clock=clock)
    quick = limiter.with_max_wait(0.0)
    limiter.acquire("loc")
    limiter.acquire("loc")
    with pytest.raises(GhlRateLimited):
        quick.acquire("loc")


def test_limits_advertised_by_ghl_are_adopted(clock):
    # given: configured for GHL's 100 / 10 s, but the server says 5 per 1000 ms
    limiter = LocalRateLimiter(RateLimitConfig(margin_ms=50), sleep=clock.sleep, clock=clock)
    limiter.acquire("loc")
    limiter.sync_headers(
        "loc", {"X-RateLimit-Max": "5", "X-RateLimit-Interval-Milliseconds": "1000", "X-RateLimit-Remaining": "4"}
    )

    # when
    for _ in range(5):
        limiter.acquire("loc")

    # then: the 6th start waited for the server's window (plus our margin)
    assert limiter.limits("loc").limit == 5
    assert sum(clock.sleeps) == pytest.approx(1.05, abs=0.01)
    assert limiter.limits("other").limit == 100


@needs_redis
def test_limits_learned_by_one_process_apply_to_all(redis_prefix):
    config = RateLimitConfig(limit=100, window_s=10.0, margin_ms=0, max_wait_s=0.05, key_prefix=redis_prefix)
    first = RedisRateLimiter.from_url(REDIS_URL, config)
    first.sync_headers("loc", {"X-RateLimit-Max": "3", "X-RateLimit-Interval-Milliseconds": "5000"})

    other = RedisRateLimiter.from_url(REDIS_URL, config)  # has seen no header itself
    for _ in range(3):
        other.acquire("loc")
    with pytest.raises(GhlRateLimited):
        other.acquire("loc")


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.3), min_size=1, max_size=120),
    syncs=st.lists(st.integers(min_value=0, max_value=10), max_size=20),
)
def test_property_no_pattern_of_calls_breaks_the_window(gaps, syncs):
    clock = FakeClock()
    limiter = LocalRateLimiter(RateLimitConfig(limit=10, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock)
    starts = []
    for n, gap in enumerate(gaps):
        clock.now += gap
        limiter.acquire("loc")
        starts.append(clock())
        if n < len(syncs):
            limiter.sync_headers("loc", {"X-RateLimit-Remaining": str(syncs[n])})
    assert_sliding_window(starts, 10, 1.0)
