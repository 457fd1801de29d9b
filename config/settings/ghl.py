"""GoHighLevel integration settings (the client, the sandbox, OAuth and webhooks add to this module)."""
import environ

_env = environ.Env()

GHL_ENABLED = _env.bool("GHL_ENABLED", default=True)
# GHL_API_BASE_URL lives in ghl_oauth.py: its default depends on whether the sandbox is allowed.

# API client (ghl_integration/client/). Timeouts in seconds; every HTTP call carries one.
GHL_HTTP_CONNECT_TIMEOUT = _env.float("GHL_HTTP_CONNECT_TIMEOUT", default=5.0)
GHL_HTTP_TIMEOUT = _env.float("GHL_HTTP_TIMEOUT", default=30.0)

# The rate limiter's Redis keys (deployments sharing one Redis keep apart). GHL's limits and the retry bounds are
# defaults in code (client/ratelimit.py `RateLimitConfig`, client/base.py `RetryPolicy`).
GHL_RATE_LIMIT_KEY_PREFIX = _env.str("GHL_RATE_LIMIT_KEY_PREFIX", default="ghl:rl")

# --- Webhook inbox (ghl_integration/webhooks/README.md) -------------------------------------------------
from pathlib import Path as _Path  # noqa: E402

_BASE_DIR = _Path(__file__).resolve().parent.parent.parent
_SANDBOX_KEYS_DIR = _BASE_DIR / "ghl_sandbox" / "dev_keys"

# GHL's published webhook public keys (REFERENCE.md §h). Rotation: set the variable to several PEM blocks.
GHL_PUBLISHED_ED25519_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=
-----END PUBLIC KEY-----
"""
GHL_PUBLISHED_RSA_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
"""

# Also trust the sandbox's dev keys (development against the local fake GHL, and tests). Defaults to DEBUG.
GHL_WEBHOOK_TRUST_SANDBOX_KEYS = _env.bool("GHL_WEBHOOK_TRUST_SANDBOX_KEYS", default=_env.bool("DEBUG", default=False))


def _with_sandbox_key(pem_blocks: str, filename: str) -> str:
    if not GHL_WEBHOOK_TRUST_SANDBOX_KEYS:
        return pem_blocks
    # Sandbox key first: in development and tests it is the one that signs, so it is tried first.
    return (_SANDBOX_KEYS_DIR / filename).read_text().rstrip() + "\n" + pem_blocks


# Each holds one or more PEM blocks (several during a key rotation); "\n" escapes are accepted in env values.
GHL_WEBHOOK_ED25519_PUBLIC_KEYS = _with_sandbox_key(
    _env.str("GHL_WEBHOOK_ED25519_PUBLIC_KEYS", default=GHL_PUBLISHED_ED25519_PUBLIC_KEY), "ed25519_public.pem"
)
GHL_WEBHOOK_RSA_PUBLIC_KEYS = _with_sandbox_key(
    _env.str("GHL_WEBHOOK_RSA_PUBLIC_KEYS", default=GHL_PUBLISHED_RSA_PUBLIC_KEY), "rsa_public.pem"
)
# Bodies above this size get a 413 (GHL's payloads are a few KB).
GHL_WEBHOOK_MAX_BODY_BYTES = _env.int("GHL_WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# GHL retries a 429 up to 6 times ~10 min apart (about 70 min in all), so the window must exceed that.
GHL_WEBHOOK_REPLAY_WINDOW_SECONDS = _env.int("GHL_WEBHOOK_REPLAY_WINDOW_SECONDS", default=75 * 60)
# Clock skew tolerated for a `timestamp` in the future.
GHL_WEBHOOK_FUTURE_SKEW_SECONDS = _env.int("GHL_WEBHOOK_FUTURE_SKEW_SECONDS", default=5 * 60)
# Webhook ids (dedup keys) are remembered this long; must exceed the replay window.
GHL_WEBHOOK_DEDUP_RETENTION_HOURS = _env.int("GHL_WEBHOOK_DEDUP_RETENTION_HOURS", default=48)
# Finished inbox rows (processed/ignored/skipped/dead) and rejection counters are deleted after this many days.
GHL_WEBHOOK_EVENT_RETENTION_DAYS = _env.int("GHL_WEBHOOK_EVENT_RETENTION_DAYS", default=30)
# Attempts, backoff, leases, requeue, the drain's batches and its doorbell: tuning, in webhooks/tuning.py.
# Where events go when the database refuses the insert; empty disables the spool (then the answer is 429).
GHL_WEBHOOK_SPOOL_DIR = _env.str("GHL_WEBHOOK_SPOOL_DIR", default=str(_BASE_DIR / "var" / "webhook-spool"))

# --- Contact sync (ghl_integration/contacts/README.md) ------------------------------------------------------
# Queue the initial contact pull when a location is connected (after commit).
GHL_SYNC_PULL_ON_CONNECT = _env.bool("GHL_SYNC_PULL_ON_CONNECT", default=True)
# How a pull spends threads and round trips is tuning, in sync/pull.py (`PullTuning`).
