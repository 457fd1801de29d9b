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
