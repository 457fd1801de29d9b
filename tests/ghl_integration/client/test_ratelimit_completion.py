"""A slot counts from when its response arrived, not from when the request was sent, and counts while in flight.

GHL counts a request on arrival. Stamped at send time only, a request delayed on its way in (a slow network, a
busy host) can land less than a window after the request `limit` places later, and GHL answers 429. Re-stamped on
completion, request N+limit starts a window after request N's response, so it also arrives a window after N did.
Until then the slot is in flight and holds its place, however long that takes: a request stalled for more than a
window between its go-ahead and GHL arrives after the requests its slot would otherwise have let go.
"""
import time

import pytest
import redis

from ghl_integration.client import (
    GhlAuthError,
    GhlClient,
    GhlRateLimited,
    LocalRateLimiter,
    RateLimitConfig,
    RedisRateLimiter,
    ratelimit,
)
from ghl_integration.client.ratelimit import ACQUIRE_LUA, COMPLETE_LUA, SYNC_LUA

from .conftest import BASE_URL, LOCATION_ID
from .test_ratelimit import REDIS_URL, needs_redis, redis_prefix  # noqa: F401 - fixture

CONFIG = {"limit": 2, "window_s": 1.0, "margin_ms": 0}


def test_local_slot_counts_from_its_completion(clock):
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)
    # given: two requests sent at t=0 (the second one answered at once); the first one's response arrives at t=0.4
    _, first = limiter.acquire_slot("loc")
    limiter.acquire("loc")
    clock.now += 0.4
    limiter.complete("loc", first)
    clock.now += 0.6

    # when: two more requests at t=1.0
    limiter.acquire("loc")  # the second slot (stamped at 0) has left the window
    waited = limiter.acquire("loc")

    # then: the fourth waits for the first slot's completion stamp (0.4) to leave the window, not its send time
    assert waited == pytest.approx(0.4, abs=0.01)


def test_a_slot_in_flight_longer_than_the_window_counts_from_its_response(clock):
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)
    _, slow = limiter.acquire_slot("loc")
    clock.now += 5.0  # a response that took longer than the window
    limiter.complete("loc", slow)
    limiter.acquire("loc")

    assert limiter.acquire("loc") == pytest.approx(1.0, abs=0.01)


def test_completing_an_unknown_slot_is_harmless(clock):
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)

    limiter.complete("loc", "never-acquired")

    assert limiter.acquire("loc") == 0 and limiter.acquire("loc") == 0


@needs_redis
@pytest.mark.parametrize(("settle", "round_trips"), [
    (lambda limiter, slot: limiter.complete("loc", slot), 1),
    # a response: its re-stamp and header sync go to Redis together, with or without rate headers
    (lambda limiter, slot: limiter.sync_headers("loc", {"X-RateLimit-Remaining": "1"}, slot=slot, complete=True), 1),
    (lambda limiter, slot: limiter.sync_headers("loc", {}, slot=slot, complete=True), 1),
], ids=["complete", "response-with-rate-headers", "response-without"])
def test_redis_slot_counts_from_its_completion(redis_prefix, settle, round_trips):  # noqa: F811 - fixture
    limiter = RedisRateLimiter.from_url(REDIS_URL, RateLimitConfig(limit=2, window_s=0.3, margin_ms=0,
                                                                   key_prefix=redis_prefix))
    for script in (ACQUIRE_LUA, SYNC_LUA, COMPLETE_LUA):  # as after the first call on a fresh Redis server
        limiter._redis.script_load(script)
    started = time.monotonic()
    _, first = limiter.acquire_slot("loc")
    limiter.acquire("loc")
    time.sleep(0.15)
    commands = []
    real_execute = limiter._redis.execute_command
    limiter._redis.execute_command = lambda *args, **kw: commands.append(args[0]) or real_execute(*args, **kw)
    settle(limiter, first)
    limiter._redis.execute_command = real_execute
    time.sleep(max(0.0, started + 0.31 - time.monotonic()))

    limiter.acquire("loc")
    limiter.acquire("loc")

    assert time.monotonic() - started >= 0.44  # 0.15 (completion) + 0.3 (window), not 0.3
    assert len(commands) == round_trips, commands


def test_redis_down_completion_never_raises(redis_prefix):  # noqa: F811 - fixture
    limiter = RedisRateLimiter(redis.Redis.from_url("redis://127.0.0.1:1/3", socket_connect_timeout=0.2),
                               RateLimitConfig(**CONFIG, key_prefix=redis_prefix))
    _, slot = limiter.acquire_slot("loc")  # falls back in process
    _, answered = limiter.acquire_slot("loc")

    limiter.complete("loc", slot)
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "1"}, slot=answered, complete=True)
    assert limiter.acquire("loc") > 0  # the fallback counted both: its window (2) is full


def test_local_headers_with_complete_restamp_the_slot_like_complete(clock):
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)
    _, first = limiter.acquire_slot("loc")
    limiter.acquire("loc")
    clock.now += 0.4
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "0"}, slot=first, complete=True)
    clock.now += 0.6

    limiter.acquire("loc")
    assert limiter.acquire("loc") == pytest.approx(0.4, abs=0.01)


def test_local_slot_in_flight_keeps_its_place_however_long(clock):
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)
    # given: a request got its go-ahead at t=0 and is still on its way to GHL five windows later (a stalled thread)
    _, stalled = limiter.acquire_slot("loc")
    clock.now += 5.0

    # when: two more requests
    first = limiter.acquire("loc")
    second = limiter.acquire("loc")

    # then: the stalled one still holds its slot, so the second waits a window for the first one's, rather than
    # going at once and reaching GHL together with the stalled one and the first (3 in GHL's window of 2)
    assert first == 0
    assert second == pytest.approx(1.0, abs=0.01)
    limiter.complete("loc", stalled)  # answered at t=6: counts from then
    with pytest.raises(GhlRateLimited):
        limiter.with_max_wait(0.9).acquire("loc")
    assert limiter.acquire("loc") == pytest.approx(1.0, abs=0.01)


def test_local_slot_never_completed_counts_until_its_lease_ends_and_a_window_more(clock, monkeypatch):
    monkeypatch.setattr(ratelimit, "IN_FLIGHT_TTL_S", 3.0)
    limiter = LocalRateLimiter(RateLimitConfig(limit=1, window_s=1.0, margin_ms=0), sleep=clock.sleep, clock=clock,
                               wall_clock=clock)
    # given: a slot whose caller died before completing it, at t=0
    limiter.acquire_slot("loc")

    # then: it counts as in flight for its lease (3 s), then as answered at its end: free again at t=4
    clock.now += 2.5
    with pytest.raises(GhlRateLimited):
        limiter.with_max_wait(1.0).acquire("loc")
    clock.now += 1.0
    assert limiter.acquire("loc") == pytest.approx(0.5, abs=0.01)


@needs_redis
def test_redis_slot_in_flight_keeps_its_place_however_long(redis_prefix):  # noqa: F811 - fixture
    limiter = RedisRateLimiter.from_url(REDIS_URL, RateLimitConfig(limit=2, window_s=0.3, margin_ms=0,
                                                                   key_prefix=redis_prefix))
    # given: a request got its go-ahead and is still on its way to GHL after longer than the window
    _, stalled = limiter.acquire_slot("loc")
    time.sleep(0.4)

    # when: two more requests
    first = limiter.acquire("loc")
    second = limiter.acquire("loc")

    # then: the second waits for the first one's slot (the stalled one holds its own), and the window's key lives
    # as long as the slot in flight may, though the answers since would have given it a window's life
    assert first < 0.1
    assert 0.25 <= second <= 0.6
    assert limiter._redis.pttl(f"{redis_prefix}:loc:win") > (ratelimit.IN_FLIGHT_TTL_S - 10) * 1000
    limiter.complete("loc", stalled)
    assert limiter._redis.pttl(f"{redis_prefix}:loc:win") <= 1300


@needs_redis
def test_redis_slot_never_completed_counts_until_its_lease_ends_and_a_window_more(redis_prefix,  # noqa: F811
                                                                                   monkeypatch):
    monkeypatch.setattr(ratelimit, "IN_FLIGHT_TTL_S", 0.2)
    limiter = RedisRateLimiter.from_url(REDIS_URL, RateLimitConfig(limit=1, window_s=0.3, margin_ms=0,
                                                                   key_prefix=redis_prefix))
    limiter.acquire_slot("loc")  # its caller dies

    waited = limiter.acquire("loc")

    assert 0.45 <= waited <= 0.9  # in flight for its lease (0.2 s), then answered at its end: a window more


def test_a_request_whose_token_cannot_be_had_does_not_keep_its_slot_in_flight(clock):
    # given: a connection whose token refresh fails (revoked), after the limiter's go-ahead
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)

    def revoked(force_refresh: bool = False) -> str:
        raise GhlAuthError("the connection was revoked")

    client = GhlClient(location_id=LOCATION_ID, token_provider=revoked, base_url=BASE_URL, rate_limiter=limiter,
                       sleep=clock.sleep, clock=clock)
    for _ in range(2):
        with pytest.raises(GhlAuthError):
            client.contacts.get("ocQHyuzHvysMo5N5VsXc")

    # then: its never-sent requests count a window from their failure, not as in flight for a minute
    clock.now += 1.0
    assert limiter.acquire(LOCATION_ID) == 0
