"""GoHighLevel integration settings (the client, the sandbox, OAuth and webhooks add to this module)."""
import environ

_env = environ.Env()

GHL_ENABLED = _env.bool("GHL_ENABLED", default=True)
# GHL_API_BASE_URL lives in ghl_oauth.py: its default depends on whether the sandbox is allowed.

# API client (ghl_integration/client/). Timeouts in seconds; every HTTP call carries one.
GHL_HTTP_CONNECT_TIMEOUT = _env.float("GHL_HTTP_CONNECT_TIMEOUT", default=5.0)
GHL_HTTP_TIMEOUT = _env.float("GHL_HTTP_TIMEOUT", default=30.0)

# Rate limits as GHL documents them: 100 requests per rolling 10 s and 200,000 per day, per app per location.
GHL_RATE_LIMIT_BURST = _env.int("GHL_RATE_LIMIT_BURST", default=100)
GHL_RATE_LIMIT_WINDOW_S = _env.float("GHL_RATE_LIMIT_WINDOW_S", default=10.0)
GHL_RATE_LIMIT_DAILY = _env.int("GHL_RATE_LIMIT_DAILY", default=200_000)
# Added to the window to absorb clock skew / latency jitter between our send time and the server's arrival time.
GHL_RATE_LIMIT_MARGIN_MS = _env.int("GHL_RATE_LIMIT_MARGIN_MS", default=50)
# Longest a caller blocks waiting for a rate-limit slot before GhlRateLimited is raised.
GHL_RATE_LIMIT_MAX_WAIT_S = _env.float("GHL_RATE_LIMIT_MAX_WAIT_S", default=60.0)
GHL_RATE_LIMIT_KEY_PREFIX = _env.str("GHL_RATE_LIMIT_KEY_PREFIX", default="ghl:rl")

# Retries on 429/502/503/504 and network errors: bounded in attempts and in total time.
GHL_RETRY_MAX_ATTEMPTS = _env.int("GHL_RETRY_MAX_ATTEMPTS", default=5)
GHL_RETRY_MAX_TOTAL_S = _env.float("GHL_RETRY_MAX_TOTAL_S", default=60.0)
GHL_RETRY_BASE_S = _env.float("GHL_RETRY_BASE_S", default=0.5)
GHL_RETRY_CAP_S = _env.float("GHL_RETRY_CAP_S", default=15.0)

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
# Processing attempts before an event is "dead", and the exponential backoff between attempts.
GHL_WEBHOOK_MAX_ATTEMPTS = _env.int("GHL_WEBHOOK_MAX_ATTEMPTS", default=8)
GHL_WEBHOOK_RETRY_BASE_SECONDS = _env.int("GHL_WEBHOOK_RETRY_BASE_SECONDS", default=30)
GHL_WEBHOOK_RETRY_MAX_SECONDS = _env.int("GHL_WEBHOOK_RETRY_MAX_SECONDS", default=3600)
# An event still "received" (or whose retry is overdue) this long after it was queued is queued again.
GHL_WEBHOOK_REQUEUE_AFTER_SECONDS = _env.int("GHL_WEBHOOK_REQUEUE_AFTER_SECONDS", default=300)
# A worker's claim on an event expires after this long (the worker is presumed dead).
GHL_WEBHOOK_LEASE_SECONDS = _env.int("GHL_WEBHOOK_LEASE_SECONDS", default=600)
# Inbox drain (processing.webhook_inbox_drain): events are claimed in batches of this size, and one drain task
# works at most this long before it hands over to a fresh task (so other tasks get the worker too).
GHL_WEBHOOK_DRAIN_BATCH = _env.int("GHL_WEBHOOK_DRAIN_BATCH", default=100)
GHL_WEBHOOK_DRAIN_MAX_SECONDS = _env.float("GHL_WEBHOOK_DRAIN_MAX_SECONDS", default=20.0)
# Debounce the drain request through the shared cache (one broker message per drain, not per event). Needs a
# cache that web and workers share, so it defaults to on only when REDIS_URL is set; without it every stored
# event publishes a drain request (correct, just more broker traffic).
GHL_WEBHOOK_DRAIN_DEBOUNCE = _env.bool("GHL_WEBHOOK_DRAIN_DEBOUNCE", default=bool(_env.str("REDIS_URL", default="")))
# During a burst (a ring within the window after a drain started) the next drain starts this long after the event
# that requested it, so the burst is claimed in batches rather than by one drain every few events (each drain has
# a fixed cost). A lone event's drain starts at once.
GHL_WEBHOOK_DRAIN_DELAY_SECONDS = _env.float("GHL_WEBHOOK_DRAIN_DELAY_SECONDS", default=0.2)
GHL_WEBHOOK_DRAIN_BURST_WINDOW_SECONDS = _env.float("GHL_WEBHOOK_DRAIN_BURST_WINDOW_SECONDS", default=0.1)
# The "drain queued" flag expires after this long, in case its broker message was lost.
GHL_WEBHOOK_DRAIN_FLAG_TTL_SECONDS = _env.int("GHL_WEBHOOK_DRAIN_FLAG_TTL_SECONDS", default=30)
# Where events go when the database refuses the insert; empty disables the spool (then the answer is 429).
GHL_WEBHOOK_SPOOL_DIR = _env.str("GHL_WEBHOOK_SPOOL_DIR", default=str(_BASE_DIR / "var" / "webhook-spool"))

# --- Contact sync (ghl_integration/sync/README.md) ------------------------------------------------------
# Queue the initial contact pull when a location is connected (after commit).
GHL_SYNC_PULL_ON_CONNECT = _env.bool("GHL_SYNC_PULL_ON_CONNECT", default=True)
# Threads writing pulled pages in parallel (one database connection each); 1 writes in the pulling thread.
GHL_SYNC_PULL_APPLY_WORKERS = _env.int("GHL_SYNC_PULL_APPLY_WORKERS", default=2)
# A pull checks that its connection is still active (one query) at most this often, and once more at the end.
GHL_SYNC_PULL_DISCONNECT_CHECK_SECONDS = _env.float("GHL_SYNC_PULL_DISCONNECT_CHECK_SECONDS", default=1.0)
# A pull saves its progress and cursor (one UPDATE of its run) at most this often, and at the end or a stop; a
# crash re-applies the pages written since (harmless). Twice a second keeps the progress bar live at a fraction
# of the cost of an update per page.
GHL_SYNC_PULL_PROGRESS_SECONDS = _env.float("GHL_SYNC_PULL_PROGRESS_SECONDS", default=0.5)
# Pages already fetched when a write starts are written together, up to this many (one transaction, one set
# of lookups): GHL's window hands out 100 pages at once, and per-write costs would otherwise be paid per page.
GHL_SYNC_PULL_PAGES_PER_WRITE = _env.int("GHL_SYNC_PULL_PAGES_PER_WRITE", default=5)
# Walk the location's contacts from both ends at once (oldest first and newest first), so each burst of GHL's
# window is spent in half the round trips' time; off, one walk from the oldest.
GHL_SYNC_PULL_FROM_BOTH_ENDS = _env.bool("GHL_SYNC_PULL_FROM_BOTH_ENDS", default=True)
# Python's GIL switch interval while a pull runs (ms; 0 leaves it alone). The page requests form two chains, and
# each response waits for the GIL behind the page writers at every socket read: at Python's 5 ms default the
# last burst's requests took ~50 ms each instead of ~30.
GHL_SYNC_PULL_GIL_SWITCH_MS = _env.float("GHL_SYNC_PULL_GIL_SWITCH_MS", default=1.0)
