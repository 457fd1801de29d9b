"""A slot counts from when its response arrived, not from when the request was sent.

GHL counts a request on arrival. Stamped at send time only, a request delayed on its way in (a slow network, a
busy host) can land less than a window after the request `limit` places later, and GHL answers 429. Re-stamped on
completion, request N+limit starts a window after request N's response, so it also arrives a window after N did.
"""
import time

import pytest
import redis

from ghl_integration.client import LocalRateLimiter, RateLimitConfig, RedisRateLimiter
from ghl_integration.client.ratelimit import ACQUIRE_LUA, COMPLETE_LUA, SYNC_LUA

from .test_ratelimit import REDIS_URL, needs_redis, redis_prefix  # noqa: F401 - fixture

CONFIG = {"limit": 2, "window_s": 1.0, "margin_ms": 0}


def test_local_slot_counts_from_its_completion(clock):
    limiter = LocalRateLimiter(RateLimitConfig(**CONFIG), sleep=clock.sleep, clock=clock, wall_clock=clock)
    # given: two requests sent at t=0; the first one's response arrives at t=0.4
    _, first = limiter.acquire_slot("loc")
    limiter.acquire_slot("loc")
    clock.now += 0.4
    limiter.complete("loc", first)
    clock.now += 0.6

    # when: two more requests at t=1.0
    limiter.acquire("loc")  # the second slot (stamped at 0) has left the window
    waited = limiter.acquire("loc")

    # then: the fourth waits for the first slot's completion stamp (0.4) to leave the window, not its send time
    assert waited == pytest.approx(0.4, abs=0.01)


def test_completing_a_slot_that_already_left_the_window_counts_it_again(clock):
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
    limiter.acquire_slot("loc")
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
    limiter.acquire_slot("loc")
    clock.now += 0.4
    limiter.sync_headers("loc", {"X-RateLimit-Remaining": "0"}, slot=first, complete=True)
    clock.now += 0.6

    limiter.acquire("loc")
    assert limiter.acquire("loc") == pytest.approx(0.4, abs=0.01)
