"""Rate limits of the agent tools, fixed one-minute windows counted in the cache (Redis when REDIS_URL is set, so
every process shares them):

- per key: every call made with a valid key counts, whatever it asks for (a misspelt tool, a family the agent
  lacks, an invalid input), so one runaway agent cannot spend the location's GHL budget nor loop unchecked;
- per client address: only calls with a missing, unknown or revoked key count, so a key-guessing client is
  answered `rate_limited`; a call with a valid key is never refused for its address, and an invalid key never
  counts against the key it imitates, so legitimate clients behind the same address (or proxy) are not penalised.
"""
import ipaddress
import time

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60
# The windows' cache keys start with this (tests give each test its own).
KEY_PREFIX = "agents:rl"
# IPv6 clients are counted by their /64: one host is usually given a whole /64 to pick addresses from.
IPV6_BUCKET_PREFIX = 64


def _hit(bucket: str, limit: int) -> int | None:
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    cache_key = f"{KEY_PREFIX}:{bucket}:{window}"
    cache.add(cache_key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))


def rate_limit_hit(*, key_prefix: str, limit: int) -> int | None:
    """Count one call of a valid key; None when it is allowed, else the seconds until the window resets."""
    return _hit(f"key:{key_prefix}", limit)


def invalid_key_hit(*, client: str) -> int | None:
    """Count one call with a missing, unknown or revoked key from `client` (see `client_address`); None while
    under `AGENT_INVALID_KEY_LIMIT_PER_MINUTE`, else the seconds until the window resets."""
    return _hit(f"ip:{client or 'unknown'}", settings.AGENT_INVALID_KEY_LIMIT_PER_MINUTE)


def client_address(*, peer: str | None, forwarded_for: str | None = None) -> str:
    """The client a request is counted as: the socket's peer, or with `AGENT_TRUSTED_PROXY_COUNT` proxies in front,
    the address they put in X-Forwarded-For (entries to its left are the client's own words, not trusted); an
    IPv6 address as its /64."""
    address = (peer or "").strip()
    hops = settings.AGENT_TRUSTED_PROXY_COUNT
    if hops > 0 and forwarded_for:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if chain:
            address = chain[-hops] if len(chain) >= hops else chain[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_BUCKET_PREFIX}", strict=False))
    return str(ip)
