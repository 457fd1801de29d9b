"""Contact sync latency, both ways, through the real moving parts.

Starts its own GHL sandbox (webhooks pointed at a product server it starts: gunicorn on a free port), a
Celery worker (broker ``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/2``, on a private queue) and
uses PostgreSQL from ``DATABASE_URL`` (a fresh ``<name>_sync_latency`` database). Then:

* outbound: a local change (``contact_update`` service call, as an agent or the UI makes it) → the contact
  updated in GHL (polling the sandbox's objects endpoint);
* inbound: a change in GHL (control API, as a GHL user) → the local row updated (polling the database).
  Needs the inbound half's contact webhook handlers; without them inbound is reported as not measurable.

Changes are paced (``--interval``) so that pushes stay inside GHL's 100 requests / 10 s per location; the
rate limit stays on. Last line: ``inbound_p99_ms=<x> outbound_p99_ms=<y>`` (``NA`` when not measurable).
Targets: p99 ≤ 1,000 ms inbound, ≤ 2,000 ms outbound. Everything started is stopped, even on error.

    python bench/sync_latency.py [--changes 200] [--interval 0.25] [--workers 4]
"""
import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Processes,
    cpu_baseline_ms,
    drop_database,
    free_port,
    fresh_database,
    migrate,
    percentiles,
    run_main,
    wait_http,
    wait_until,
)


def _measure_outbound(sandbox, contact, ghl_id: str, changes: int, interval: float) -> list[float]:
    from crm.services.contacts import contact_update

    samples = []
    for i in range(changes):
        value = f"Out{i}"
        started = time.monotonic()
        contact_update(contact=contact, first_name=value)
        seen = wait_until(lambda v=value: sandbox.control.objects("contact", ghl_id)["firstName"] == v,
                           f"outbound change {i}")
        samples.append((seen - started) * 1000)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return samples


def _measure_inbound(sandbox, contact_pk: int, ghl_id: str, changes: int, interval: float) -> list[float]:
    from crm.models import Contact

    samples = []
    for i in range(changes):
        value = f"In{i}"
        started = time.monotonic()
        sandbox.control.change_contact("update", contactId=ghl_id, lastName=value)
        seen = wait_until(
            lambda v=value: Contact.objects.filter(pk=contact_pk, last_name=v).exists(), f"inbound change {i}")
        samples.append((seen - started) * 1000)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return samples


def main(args) -> str:
    queue = f"bench-sync-{uuid.uuid4().hex[:8]}"
    database_url = fresh_database("sync_latency")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               CELERY_BROKER_URL=broker, BENCH_CELERY_QUEUE=queue, PYTHONPATH=str(ROOT))
    migrate(env)

    from ghl_sandbox import constants as sbx
    from ghl_sandbox.testing import SandboxProcess

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sync-latency-") as tmpdir, SandboxProcess(
        state=Path(tmpdir) / "sandbox.sqlite3", seed="demo",
        webhook_urls=(f"http://127.0.0.1:{port}/webhooks/ghl/",),
    ) as sandbox, Processes("sync_latency") as procs:
        env["GHL_API_BASE_URL"] = sandbox.base_url
        try:
            procs.gunicorn(env, port)
            procs.celery_worker(env, app="bench.sync_celery", queues=queue, concurrency=args.workers)
            wait_http(f"http://127.0.0.1:{port}/accounts/login/")

            os.environ.update(DATABASE_URL=database_url, GHL_API_BASE_URL=sandbox.base_url,
                              DJANGO_SETTINGS_MODULE="config.settings.test", CELERY_BROKER_URL=broker,
                              BENCH_CELERY_QUEUE=queue)
            from bench.sync_wiring import celery_application

            celery_application()  # this process queues pushes after its own local changes
            from django.conf import settings

            from crm.models import ExternalIdentity
            from crm.services.contacts import contact_create
            from ghl_integration.connections import connection_connect_from_code
            from ghl_integration.webhooks import dispatch
            from tenancy.services import organization_create, user_create

            owner = user_create(username="bench-owner", password="bench-password-123")
            org = organization_create(name="Latency Clinic", owner=owner)
            code = sandbox.control.issue_code(locationId=sbx.DEMO_LOCATION_ID,
                                              redirectUri=settings.GHL_REDIRECT_URI)["code"]
            connection_connect_from_code(organization=org, user=owner, code=code)
            contact = contact_create(organization=org, first_name="Bench", last_name="Mark",
                                     email="bench@example.com")
            wait_until(lambda: ExternalIdentity.objects.filter(object_id=contact.pk).exists(), "first push")
            ghl_id = ExternalIdentity.objects.get(object_id=contact.pk).external_id
            sandbox.control.wait_webhooks(timeout=10)

            outbound = _measure_outbound(sandbox, contact, ghl_id, args.changes, args.interval)
            o50, o99 = percentiles(outbound)
            print(f"outbound: n={len(outbound)} p50={o50:.0f} ms p99={o99:.0f} ms max={max(outbound):.0f} ms",
                  flush=True)
            sandbox.control.wait_webhooks(timeout=10)
            time.sleep(1)

            inbound_p99 = "NA"
            if "ContactUpdate" in dispatch.EVENT_HANDLERS:
                inbound = _measure_inbound(sandbox, contact.pk, ghl_id, args.changes, args.interval)
                i50, i99 = percentiles(inbound)
                inbound_p99 = f"{i99:.0f}"
                print(f"inbound: n={len(inbound)} p50={i50:.0f} ms p99={i99:.0f} ms max={max(inbound):.0f} ms",
                      flush=True)
            else:
                print("inbound: not measurable (no ContactUpdate webhook handler registered yet)", flush=True)
            print(f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f}", flush=True)
            return f"inbound_p99_ms={inbound_p99} outbound_p99_ms={o99:.0f}"
        finally:
            procs.stop_all()
            drop_database(database_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between changes (rate budget)")
    parser.add_argument("--workers", type=int, default=4, help="Celery worker concurrency")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
