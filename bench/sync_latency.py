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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    demo_organization,
    latency_summary,
    machine_line,
    paced_latencies_ms,
    percentiles,
    product_stack,
    run_main,
    wait_until,
)


def _measure_outbound(sandbox, contact, ghl_id: str, changes: int, interval: float) -> list[float]:
    from crm.services.contacts import contact_update

    def change(i: int) -> float:
        value = f"Out{i}"
        contact_update(contact=contact, first_name=value)
        return wait_until(lambda: sandbox.control.objects("contact", ghl_id)["firstName"] == value,
                          f"outbound change {i}")

    return paced_latencies_ms(changes, interval, change)


def _measure_inbound(sandbox, contact_pk: int, ghl_id: str, changes: int, interval: float) -> list[float]:
    from crm.models import Contact

    def change(i: int) -> float:
        value = f"In{i}"
        sandbox.control.change_contact("update", contactId=ghl_id, lastName=value)
        return wait_until(lambda: Contact.objects.filter(pk=contact_pk, last_name=value).exists(),
                          f"inbound change {i}")

    return paced_latencies_ms(changes, interval, change)


def main(args) -> str:
    with product_stack("sync_latency", worker_concurrency=args.workers) as stack:
        sandbox = stack.sandbox
        from crm.models import ExternalIdentity
        from crm.services.contacts import contact_create
        from ghl_integration.webhooks import dispatch

        _, org, _ = demo_organization(sandbox, "Latency Clinic")
        contact = contact_create(organization=org, first_name="Bench", last_name="Mark", email="bench@example.com")
        wait_until(lambda: ExternalIdentity.objects.filter(object_id=contact.pk).exists(), "first push")
        ghl_id = ExternalIdentity.objects.get(object_id=contact.pk).external_id
        sandbox.control.wait_webhooks(timeout=10)

        outbound = _measure_outbound(sandbox, contact, ghl_id, args.changes, args.interval)
        print(latency_summary("outbound", outbound), flush=True)
        sandbox.control.wait_webhooks(timeout=10)
        time.sleep(1)

        inbound_p99 = "NA"
        if "ContactUpdate" in dispatch.EVENT_HANDLERS:
            inbound = _measure_inbound(sandbox, contact.pk, ghl_id, args.changes, args.interval)
            inbound_p99 = f"{percentiles(inbound)[1]:.0f}"
            print(latency_summary("inbound", inbound), flush=True)
        else:
            print("inbound: not measurable (no ContactUpdate webhook handler registered yet)", flush=True)
        print(machine_line(), flush=True)
        return f"inbound_p99_ms={inbound_p99} outbound_p99_ms={percentiles(outbound)[1]:.0f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between changes (rate budget)")
    parser.add_argument("--workers", type=int, default=4, help="Celery worker concurrency")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
