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
import sys
import time
from decimal import Decimal
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


def _measure_outbound(sandbox, opp, ghl_id: str, stages: list, stage_ids: dict, changes: int,
                      interval: float) -> list[float]:
    from crm.services.opportunities import opportunity_change

    def change(i: int) -> float:
        stage = stages[(i + 1) % len(stages)]
        opportunity_change(opportunity=opp, stage=stage)
        return wait_until(
            lambda: sandbox.control.objects("opportunity", ghl_id)["pipelineStageId"] == stage_ids[stage.pk],
            f"outbound move {i}")

    return paced_latencies_ms(changes, interval, change)


def _measure_inbound(sandbox, opp_pk: int, ghl_id: str, changes: int, interval: float) -> list[float]:
    from crm.models import Opportunity

    def change(i: int) -> float:
        value = 1000 + i
        sandbox.control.change("opportunity.update", opportunityId=ghl_id, monetaryValue=value)
        return wait_until(lambda: Opportunity.objects.filter(pk=opp_pk, monetary_value=Decimal(value)).exists(),
                          f"inbound change {i}")

    return paced_latencies_ms(changes, interval, change)


def main(args) -> str:
    with product_stack("opportunity_sync", worker_concurrency=args.workers) as stack:
        sandbox = stack.sandbox
        from crm.models import Opportunity, PipelineStage
        from crm.selectors.external_ids import external_id_for_object, local_object_for_external_id
        from ghl_integration.opportunities.sync import opportunities_pull
        from ghl_sandbox import constants as sbx

        _, _, connection = demo_organization(sandbox, "Pipeline Clinic")
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
        print(latency_summary("outbound", outbound), flush=True)
        sandbox.control.wait_webhooks(timeout=10)
        time.sleep(1)
        inbound = _measure_inbound(sandbox, opp.pk, deal["id"], args.changes, args.interval)
        print(latency_summary("inbound", inbound), flush=True)
        print(machine_line(), flush=True)
        return f"inbound_p99_ms={percentiles(inbound)[1]:.0f} outbound_p99_ms={percentiles(outbound)[1]:.0f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.4, help="seconds between changes (rate budget)")
    parser.add_argument("--workers", type=int, default=4, help="Celery worker concurrency")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
