"""Per-key rate limit: a fixed one-minute window counted in the cache (Redis when REDIS_URL is set, so every
process shares it), so one runaway agent cannot spend the location's GHL budget."""
import time

from django.core.cache import cache

WINDOW_SECONDS = 60


def rate_limit_hit(*, key_prefix: str, limit: int) -> int | None:
    """Count one call; None when it is allowed, else the seconds until the window resets."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    cache_key = f"agents:rl:{key_prefix}:{window}"
    cache.add(cache_key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
