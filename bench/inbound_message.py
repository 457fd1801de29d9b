"""Inbound message latency: from a message arriving in GHL to the "message received" event seen by a subscriber.

Starts its own GHL sandbox (webhooks to a product server it starts: gunicorn on a free port), a Celery worker
(broker ``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/2``, private queue) whose subscriber reports
each event to Redis (``REDIS_URL``, else the broker), and a fresh ``<DATABASE_URL name>_inbound_message``
PostgreSQL database. Each message is sent as the contact texting (the sandbox's control API); the clock stops
when the subscriber in the worker sees its event. The sandbox also delivers a share of webhooks twice
(``--duplicate``), as GHL may: each message must still raise exactly one event.

Last line: ``trigger_p99_ms=<x> duplicates=<n>``. Target: p99 ≤ 1,000 ms, 0 duplicates.

    python bench/inbound_message.py [--messages 200] [--interval 0.1] [--duplicate 0.1] [--workers 2]
"""
import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    demo_organization,
    machine_line,
    paced_latencies_ms,
    percentiles,
    product_stack,
    run_main,
)

TIMEOUT_S = 15.0
WARM_UP = 3


def _events(client, key: str, start: int) -> list[dict]:
    return [json.loads(raw) for raw in client.lrange(key, start, -1)]


def _wait_event(client, key: str, seen: list[dict], body: str) -> float:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        seen.extend(_events(client, key, len(seen)))
        for item in seen:
            if item["body"] == body:
                return item["t"]
        time.sleep(0.003)
    raise RuntimeError(f"no event for {body!r} within {TIMEOUT_S} s")


def main(args) -> str:
    import redis

    events_key = f"bench:inbound-message:{uuid.uuid4().hex[:8]}"
    events_redis = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    client = redis.Redis.from_url(events_redis)
    try:
        with product_stack("inbound_message", worker_app="bench.inbound_message_celery",
                           worker_concurrency=args.workers,
                           extra_env={"BENCH_EVENTS_REDIS": events_redis, "BENCH_EVENTS_KEY": events_key}) as stack:
            sandbox = stack.sandbox
            from ghl_sandbox import constants as sbx

            demo_organization(sandbox, "Inbound Clinic")
            ghl_id = sandbox.control.change_contact("create", locationId=sbx.DEMO_LOCATION_ID, firstName="Texting",
                                                    lastName="Customer", phone="+15035550100")["contact"]["id"]
            seen: list[dict] = []
            for i in range(WARM_UP):  # the contact arrives with the first; connections and caches warm up
                body = f"warm-up {i} {uuid.uuid4().hex[:6]}"
                sandbox.control.inbound_message(ghl_id, body)
                _wait_event(client, events_key, seen, body)
            sandbox.control.faults(seed=7, webhook={"duplicate": args.duplicate})

            bodies: list[str] = []

            def message(i: int) -> float:  # the subscriber's clock is the wall clock, in another process
                bodies.append(f"message {i} {uuid.uuid4().hex[:6]}")
                sandbox.control.inbound_message(ghl_id, bodies[-1])
                return _wait_event(client, events_key, seen, bodies[-1])

            samples = paced_latencies_ms(args.messages, args.interval, message, clock=time.time)
            sandbox.control.wait_webhooks(timeout=30)
            time.sleep(2)  # let late duplicate deliveries be processed
            seen.extend(_events(client, events_key, len(seen)))
            counts = Counter(item["body"] for item in seen)
            duplicates = sum(n - 1 for n in counts.values())
            missing = [b for b in bodies if b not in counts]
            delivered_twice = sandbox.control.webhook_deliveries(type="InboundMessage")
            repeats = len(delivered_twice) - len({d["webhook_id"] for d in delivered_twice})
            p50, p99 = percentiles(samples)
            print(f"messages={len(samples)} p50={p50:.0f} ms p99={p99:.0f} ms max={max(samples):.0f} ms "
                  f"ghl_repeated_deliveries={repeats} missing={len(missing)}", flush=True)
            print(machine_line(), flush=True)
            return f"trigger_p99_ms={p99:.0f} duplicates={duplicates}"
    finally:
        client.delete(events_key)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between messages")
    parser.add_argument("--duplicate", type=float, default=0.1, help="share of webhooks GHL delivers twice")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
