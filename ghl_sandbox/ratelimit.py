"""GHL's documented limits: per (app, resource) 100 requests per rolling 10 s and 200,000 per day.

A sliding log, not a bucket: request N+max may start `interval_ms` after request N. Refused requests are not
logged, so a client that backs off regains capacity exactly when the oldest request leaves the window.
"""
import threading
import time
from collections import deque
from datetime import UTC, datetime


class RateLimiter:
    def __init__(self, config, *, clock=time.monotonic, wall_clock=lambda: datetime.now(UTC)):
        self.config = config
        self.clock = clock
        self.wall_clock = wall_clock
        self.lock = threading.Lock()
        self.windows: dict[tuple, deque] = {}
        self.daily: dict[tuple, tuple[str, int]] = {}

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()
            self.daily.clear()

    def hit(self, key: tuple | None) -> tuple[bool, dict]:
        """Count one request for `key`; return (allowed, the five X-RateLimit-* headers)."""
        limits = self.config["rate_limit"]
        max_, interval, daily_max = int(limits["max"]), int(limits["interval_ms"]), int(limits["daily"])
        if key is None or not limits.get("enabled", True):
            return True, self._headers(max_, interval, daily_max, max_, daily_max)
        with self.lock:
            # Read inside the lock: a stamp taken before it could be appended after a later one, and the
            # window, which expires from the left, would then keep a request past its time.
            now = self.clock()
            today = self.wall_clock().strftime("%Y-%m-%d")
            log = self.windows.setdefault(key, deque())
            while log and (now - log[0]) * 1000 >= interval:
                log.popleft()
            day, used = self.daily.get(key, (today, 0))
            if day != today:
                used = 0
            allowed = len(log) < max_ and used < daily_max
            if allowed:
                log.append(now)
                used += 1
                self.daily[key] = (today, used)
            remaining = max(0, max_ - len(log))
        return allowed, self._headers(max_, interval, daily_max, remaining, max(0, daily_max - used))

    @staticmethod
    def _headers(max_, interval, daily_max, remaining, daily_remaining) -> dict:
        return {
            "X-RateLimit-Limit-Daily": str(daily_max),
            "X-RateLimit-Daily-Remaining": str(daily_remaining),
            "X-RateLimit-Interval-Milliseconds": str(interval),
            "X-RateLimit-Max": str(max_),
            "X-RateLimit-Remaining": str(remaining),
        }
