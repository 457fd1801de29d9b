"""Opportunity sync latency, both ways, through the real moving parts (as `bench/sync_latency.py` for contacts).

Starts its own GHL sandbox (webhooks pointed at a product server it starts: gunicorn on a free port), a Celery
worker on a private queue (broker ``CELERY_BROKER_URL``) and uses PostgreSQL from ``DATABASE_URL`` (a fresh
``<name>_opportunity_sync`` database). One deal is pulled, then:

* outbound: a local stage move (`opportunity_change`, what `move_opportunity` and the board do) → the deal in
  the new stage in GHL (polling the sandbox's objects endpoint);
* inbound: a value change in GHL (control API, as a GHL user: it fires OpportunityMonetaryValueUpdate and the
  generic OpportunityUpdate) → the local deal holding the new value (polling the database).

Changes are paced (``--interval``) so that GHL's 100 requests / 10 s per location hold: an outbound move costs
three requests (read, write, read back), an inbound change two reads. Last line:
``inbound_p99_ms=<x> outbound_p99_ms=<y>``. Targets: p99 ≤ 1,000 ms inbound, ≤ 2,000 ms outbound.

    python bench/opportunity_sync.py [--changes 200] [--interval 0.4] [--workers 4]
"""
import argparse
import os
import sys
import tempfile
import time
import uuid
from decimal import Decimal
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


def _measure_outbound(sandbox, opp, ghl_id: str, stages: list, stage_ids: dict, changes: int,
                      interval: float) -> list[float]:
    from crm.services.opportunities import opportunity_change

    samples = []
    for i in range(changes):
        stage = stages[(i + 1) % len(stages)]
        started = time.monotonic()
        opportunity_change(opportunity=opp, stage=stage)
        seen = wait_until(
            lambda s=stage: sandbox.control.objects("opportunity", ghl_id)["pipelineStageId"] == stage_ids[s.pk],
            f"outbound move {i}")
        samples.append((seen - started) * 1000)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return samples


def _measure_inbound(sandbox, opp_pk: int, ghl_id: str, changes: int, interval: float) -> list[float]:
    from crm.models import Opportunity

    samples = []
    for i in range(changes):
        value = 1000 + i
        started = time.monotonic()
        sandbox.control.change("opportunity.update", opportunityId=ghl_id, monetaryValue=value)
        seen = wait_until(lambda v=value: Opportunity.objects.filter(pk=opp_pk, monetary_value=Decimal(v)).exists(),
                           f"inbound change {i}")
        samples.append((seen - started) * 1000)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    return samples


def main(args) -> str:  # noqa: PLR0915 - one linear script: start, measure, stop
    queue = f"bench-opps-{uuid.uuid4().hex[:8]}"
    database_url = fresh_database("opportunity_sync")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               CELERY_BROKER_URL=broker, BENCH_CELERY_QUEUE=queue, PYTHONPATH=str(ROOT))
    migrate(env)

    from ghl_sandbox import constants as sbx
    from ghl_sandbox.testing import SandboxProcess

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="opportunity-sync-") as tmpdir, SandboxProcess(
        state=Path(tmpdir) / "sandbox.sqlite3", seed="demo",
        webhook_urls=(f"http://127.0.0.1:{port}/webhooks/ghl/",),
    ) as sandbox, Processes("opportunity_sync") as procs:
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

            from crm.models import Opportunity, PipelineStage
            from crm.selectors.external_ids import external_id_for_object, local_object_for_external_id
            from ghl_integration.connections import connection_connect_from_code
            from ghl_integration.opportunities.sync import opportunities_pull
            from tenancy.services import organization_create, user_create

            owner = user_create(username="bench-owner", password="bench-password-123")
            org = organization_create(name="Pipeline Clinic", owner=owner)
            code = sandbox.control.issue_code(locationId=sbx.DEMO_LOCATION_ID,
                                              redirectUri=settings.GHL_REDIRECT_URI)["code"]
            connection = connection_connect_from_code(organization=org, user=owner, code=code).connection
            pipeline = sandbox.control.objects("pipeline", sbx.DEMO_PIPELINE_ID)
            contact_id = sandbox.control.objects("contact", location_id=sbx.DEMO_LOCATION_ID)[0]["id"]
            deal = sandbox.control.change("opportunity.create", locationId=sbx.DEMO_LOCATION_ID,
                                          pipelineId=pipeline["id"], name="Bench deal", status="open",
                                          contactId=contact_id, monetaryValue=500)["opportunity"]
            sandbox.control.wait_webhooks(timeout=10)
            opportunities_pull(connection=connection)
            opp = local_object_for_external_id(model=Opportunity, provider="ghl", account_id=sbx.DEMO_LOCATION_ID,
                                               external_id=deal["id"])
            stages = list(PipelineStage.objects.filter(pipeline=opp.pipeline, is_archived=False).order_by("position"))
            stage_ids = {s.pk: external_id_for_object(obj=s, provider="ghl", account_id=sbx.DEMO_LOCATION_ID)
                         for s in stages}

            outbound = _measure_outbound(sandbox, opp, deal["id"], stages, stage_ids, args.changes, args.interval)
            o50, o99 = percentiles(outbound)
            print(f"outbound: n={len(outbound)} p50={o50:.0f} ms p99={o99:.0f} ms max={max(outbound):.0f} ms",
                  flush=True)
            sandbox.control.wait_webhooks(timeout=10)
            time.sleep(1)
            inbound = _measure_inbound(sandbox, opp.pk, deal["id"], args.changes, args.interval)
            i50, i99 = percentiles(inbound)
            print(f"inbound: n={len(inbound)} p50={i50:.0f} ms p99={i99:.0f} ms max={max(inbound):.0f} ms",
                  flush=True)
            print(f"nproc={os.cpu_count()} cpu_baseline_ms={cpu_baseline_ms():.0f}", flush=True)
            return f"inbound_p99_ms={i99:.0f} outbound_p99_ms={o99:.0f}"
        finally:
            procs.stop_all()
            drop_database(database_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.4, help="seconds between changes (rate budget)")
    parser.add_argument("--workers", type=int, default=4, help="Celery worker concurrency")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
