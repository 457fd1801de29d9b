"""Pull every contact of a big location through the GHL client, with GHL's real rate limits on both sides.

Starts its own GHL sandbox, seeds a fresh location with `--contacts` contacts, gets a Location token through the
OAuth code exchange, and walks `contacts.iter_search` (searchAfter) with `--page-size`. The sandbox enforces GHL's
100 requests per rolling 10 s; the client's limiter (Redis when REDIS_URL is set, else in-process) keeps to it.

The floor is the time the rate limit alone imposes: the first 100 requests fit one burst, the rest go at 10 per
second, so `floor_s = max(0, requests - 100) / 10`. The last line is

    ratio_to_floor=<elapsed / floor> http_429=<429 responses received>

(`ratio_to_floor=0.00` when the floor is 0: every request fit in one burst, so there is nothing to compare with).
Target: ratio <= 1.10 and no 429. Exit status 0 only then.

    python bench/pull_contacts.py --contacts 30000 --page-size 100
"""
import argparse
import logging
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.10


def floor_seconds(requests: int, burst: int, window_s: float) -> float:
    """GHL's limit alone: `burst` requests at once, then `burst` per `window_s`."""
    return max(0, requests - burst) / (burst / window_s)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--burst", type=int, default=100, help="requests per window, both sides (GHL: 100)")
    parser.add_argument("--window-s", type=float, default=10.0, help="rate-limit window in seconds (GHL: 10)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    logging.getLogger("ghl_integration").setLevel(logging.WARNING)  # one INFO line per request otherwise
    from django.conf import settings

    from ghl_integration.client import GhlClient, GhlOAuth
    from ghl_integration.client.base import make_session
    from ghl_integration.client.ratelimit import LocalRateLimiter, RateLimitConfig, RedisRateLimiter
    from ghl_sandbox import constants as c
    from ghl_sandbox.testing import SandboxProcess

    location_id = "Bench" + uuid.uuid4().hex[:15]  # fresh: no limiter state left over from an earlier run
    with SandboxProcess() as sbx:
        sbx.control.rate_limits(enabled=True, max=args.burst, interval_ms=int(args.window_s * 1000))
        t0 = time.monotonic()
        sbx.control.seed(locationId=location_id, name="Bench Location", contacts=args.contacts, users=1,
                         pipelines=False, calendars=False, customFields=False)
        seeded_s = time.monotonic() - t0
        session = make_session()
        session.trust_env = False
        statuses: list[int] = []
        answered: list[float] = []

        def record(response, *args, **kwargs):
            statuses.append(response.status_code)
            answered.append(time.monotonic())

        session.hooks["response"].append(record)
        code = sbx.control.issue_code(locationId=location_id)["code"]
        tokens = GhlOAuth(base_url=sbx.base_url, session=session).exchange_code(
            client_id=c.SANDBOX_CLIENT_ID, client_secret=c.SANDBOX_CLIENT_SECRET, code=code)
        statuses.clear()  # count the API requests of the pull only
        answered.clear()
        limits = RateLimitConfig(limit=args.burst, window_s=args.window_s)
        limiter = RedisRateLimiter.from_url(settings.REDIS_URL, limits) if settings.REDIS_URL \
            else LocalRateLimiter(limits)
        client = GhlClient(location_id=location_id, base_url=sbx.base_url, session=session, rate_limiter=limiter,
                           token_provider=lambda force_refresh=False: tokens["access_token"])

        started = time.monotonic()
        ids = {contact["id"] for contact in client.contacts.iter_search(page_size=args.page_size)}
        elapsed = time.monotonic() - started

        log = sbx.control.request_log(path="/contacts/search", status=200)
        durations = sorted(r["duration_ms"] for r in log)

    requests_made = len(statuses)
    http_429 = statuses.count(429)
    floor = floor_seconds(requests_made, args.burst, args.window_s)
    ratio = elapsed / floor if floor > 0 else 0.0
    limiter = type(client.http.rate_limiter).__name__
    print(f"seeded {args.contacts} contacts in {seeded_s:.1f}s; limiter {limiter}; "
          f"limits {args.burst}/{args.window_s:g}s on both sides")
    print(f"pulled {len(ids)} contacts in {requests_made} requests (page size {args.page_size})")
    if durations:
        median = durations[len(durations) // 2]
        print(f"sandbox time per search page: median {median:.1f} ms, max {durations[-1]:.1f} ms")
    if len(answered) >= args.burst:
        # The floor assumes the first burst is instantaneous; every millisecond a request takes there is added to
        # the whole pull, since request N+burst may only start a window after request N started.
        burst_s = answered[args.burst - 1] - started
        print(f"first {args.burst} requests (one burst) took {burst_s:.2f}s, "
              f"{burst_s / args.burst * 1000:.1f} ms per request end to end")
    print(f"time_s={elapsed:.2f} requests={requests_made} floor_s={floor:.2f}")
    print(f"ratio_to_floor={ratio:.2f} http_429={http_429}")
    ok = len(ids) == args.contacts and http_429 == 0 and ratio <= TARGET_RATIO
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
