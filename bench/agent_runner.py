"""The agent at work: from a customer's text arriving in GHL to the agent's reply visible in GHL.

Starts a GHL sandbox (webhooks to a product server it starts: gunicorn on a free port), a Celery worker (broker
``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/2``, private queue), the scripted fake model (in this
process, answering at once: `send_message` with the reply, then a final sentence) and a fresh
``<DATABASE_URL name>_agent_runner`` PostgreSQL database. One organization, one agent with a "message received"
trigger (burst gathering off: `burst_seconds=0`, as the wait for a burst is deliberate, not overhead); each of
``--conversations`` contacts texts once; the clock stops when the sandbox holds the agent's outbound SMS.

Figures: ``reply_p99_ms`` over the conversations; ``step_overhead_p95_ms``, the runner's own time per model turn:
a run's duration less the model's calls and the tools' calls (both recorded per step), divided by its turns.

Last line: ``reply_p99_ms=<x> step_overhead_p95_ms=<y>``. Targets: ≤ 2,000 ms and ≤ 50 ms.

    python bench/agent_runner.py [--conversations 100] [--workers 2]
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
    drop_database,
    free_port,
    fresh_database,
    migrate,
    percentile,
    percentiles,
    run_main,
    wait_http,
)

TIMEOUT_S = 20.0
WARM_UP = 3


def _fake_model():
    from tests.agents.fake_model import FakeModel, call, say

    model = FakeModel().start()

    @model.rule(r"(?s)wrote to us on (?P<channel>\w+):\n(?P<body>.*?)\n\nAnswer them once.*contact (?P<cid>\d+)")
    def answer(match, conv):
        if conv.last("send_message") is None:
            return call("send_message", contact=match["cid"], channel=match["channel"],
                        text=f"Thanks! Re: {match['body'][:40]}")
        return say("Answered.")

    return model


def _wait_reply(sandbox, location_id: str, ghl_id: str) -> float:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for m in sandbox.control.objects("message", location_id=location_id):
            if m["contactId"] == ghl_id and m["direction"] == "outbound":
                return time.time()
        time.sleep(0.01)
    raise RuntimeError(f"no reply to {ghl_id} within {TIMEOUT_S} s")


def main(args) -> str:
    queue = f"bench-agent-runner-{uuid.uuid4().hex[:8]}"
    database_url = fresh_database("agent_runner")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    model = _fake_model()
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               CELERY_BROKER_URL=broker, BENCH_CELERY_QUEUE=queue, PYTHONPATH=str(ROOT),
               AGENT_LLM_BASE_URL=model.base_url, AGENT_LLM_MODEL="fake-instant", AGENT_WRITE_CONFIRM_SECONDS="4")
    migrate(env)

    from ghl_sandbox import constants as sbx
    from ghl_sandbox.testing import SandboxProcess

    procs = Processes("agent_runner")
    port = free_port()
    location = sbx.DEMO_LOCATION_ID
    try:
        with tempfile.TemporaryDirectory(prefix="agent-runner-") as tmpdir, SandboxProcess(
            state=Path(tmpdir) / "sandbox.sqlite3", seed="demo",
            webhook_urls=(f"http://127.0.0.1:{port}/webhooks/ghl/",),
        ) as sandbox:
            env["GHL_API_BASE_URL"] = sandbox.base_url
            procs.gunicorn(env, port)
            procs.celery_worker(env, app="bench.agent_runner_celery", queues=queue, concurrency=args.workers)
            wait_http(f"http://127.0.0.1:{port}/accounts/login/")
            os.environ.update({k: env[k] for k in ("DATABASE_URL", "GHL_API_BASE_URL", "DJANGO_SETTINGS_MODULE",
                                                   "CELERY_BROKER_URL", "BENCH_CELERY_QUEUE", "AGENT_LLM_BASE_URL",
                                                   "AGENT_LLM_MODEL")})
            from bench.sync_wiring import celery_application

            celery_application()
            import logging

            logging.disable(logging.INFO)
            from django.conf import settings

            from agents.models import AgentRun, AgentRunStep
            from agents.services import agent_create
            from agents.triggers.services import trigger_create
            from crm import events
            from ghl_integration.connections import connection_connect_from_code
            from tenancy.services import organization_create, user_create

            owner = user_create(username="bench-owner", password="bench-password-123")
            org = organization_create(name="Runner Clinic", owner=owner)
            code = sandbox.control.issue_code(locationId=location, redirectUri=settings.GHL_REDIRECT_URI)["code"]
            connection_connect_from_code(organization=org, user=owner, code=code)
            agent = agent_create(organization=org, name="Front desk")
            agent.burst_seconds, agent.max_runs_per_contact_hour = 0, 1000
            agent.save()
            trigger_create(agent=agent, name="Answer texts", event=events.MESSAGE_RECEIVED, channel="sms")

            samples = []
            for i in range(WARM_UP + args.conversations):
                ghl_id = sandbox.control.change_contact(
                    "create", locationId=location, firstName=f"Customer{i}", lastName="Bench",
                    phone=f"+1503555{2000 + i:04d}")["contact"]["id"]
                if i == 0:
                    time.sleep(1)  # the first contact's webhook reaches the mirror
                started = time.time()
                sandbox.control.inbound_message(ghl_id, f"can I come in Thursday? ({i})")
                elapsed = (_wait_reply(sandbox, location, ghl_id) - started) * 1000
                if i >= WARM_UP:
                    samples.append(elapsed)
            time.sleep(0.5)
            overheads, failed = [], 0
            runs = AgentRun.objects.for_org(org).order_by("id")[WARM_UP:]
            for run in runs:
                if run.status != AgentRun.Status.SUCCEEDED:
                    failed += 1
                    continue
                steps = list(AgentRunStep.objects.filter(run=run))
                outside = sum(s.latency_ms for s in steps)
                turns = max(1, sum(1 for s in steps if s.kind == AgentRunStep.Kind.MODEL))
                overheads.append(max(0.0, run.duration_ms - outside) / turns)
            p50, p99 = percentiles(samples)
            overhead_p95 = percentile(overheads, 0.95) if overheads else float("nan")
            print(f"conversations={len(samples)} reply_p50={p50:.0f} ms reply_p99={p99:.0f} ms "
                  f"max={max(samples):.0f} ms runs_failed={failed} step_overhead_p50="
                  f"{sorted(overheads)[len(overheads) // 2]:.1f} ms nproc={os.cpu_count()}", flush=True)
            return f"reply_p99_ms={p99:.0f} step_overhead_p95_ms={overhead_p95:.1f}"
    finally:
        procs.stop_all()
        model.stop()
        drop_database(database_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
