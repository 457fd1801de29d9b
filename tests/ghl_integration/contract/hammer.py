"""One worker process for the shared-rate-limit test: waits for a common start time, then sends `--count`
requests for one location through a client whose limiter is the shared Redis one (`REDIS_URL`, with the limits
and key prefix given). Prints one JSON line: the statuses received and any errors.

    python -m tests.ghl_integration.contract.hammer --base-url URL --token T --location L --count N --start-at EPOCH \
        --limit 10 --window-s 1 --key-prefix P --max-total-s 10
"""
import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--location", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--window-s", type=float, required=True)
    parser.add_argument("--key-prefix", required=True)
    parser.add_argument("--max-total-s", type=float, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from ghl_integration.client import GhlApiError, GhlClient
    from ghl_integration.client.base import RetryPolicy, make_session
    from ghl_integration.client.ratelimit import RateLimitConfig, RedisRateLimiter

    statuses: list[int] = []
    errors: list[str] = []
    session = make_session()
    session.trust_env = False
    session.hooks["response"].append(lambda response, *a, **kw: statuses.append(response.status_code))
    client = GhlClient(location_id=args.location, token_provider=lambda force_refresh=False: args.token,
                       base_url=args.base_url, session=session,
                       rate_limiter=RedisRateLimiter.from_url(os.environ["REDIS_URL"], RateLimitConfig(
                           limit=args.limit, window_s=args.window_s, key_prefix=args.key_prefix)),
                       retry=RetryPolicy(max_total_s=args.max_total_s))
    time.sleep(max(0.0, args.start_at - time.time()))
    for n in range(args.count):
        try:
            if n % 2:
                client.contacts.search(page_limit=5)
            else:
                client.locations.get()
        except GhlApiError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"statuses": statuses, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
