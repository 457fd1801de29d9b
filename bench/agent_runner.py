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
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.inbound_common import drop_database, prepare_database  # noqa: E402
from bench.sync_latency import _free_port, _percentiles, _stop, _wait_http  # noqa: E402

TIMEOUT_S = 20.0
WARM_UP = 3


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(0.95 * len(ordered))) - 1))]


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


def main(args) -> int:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("DATABASE_URL must point at PostgreSQL (concurrent server, worker and benchmark)")
    queue = f"bench-agent-runner-{uuid.uuid4().hex[:8]}"
    database_url = prepare_database(tempfile.gettempdir(), "agent_runner")
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")
    model = _fake_model()
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               CELERY_BROKER_URL=broker, BENCH_CELERY_QUEUE=queue, PYTHONPATH=str(ROOT),
               AGENT_LLM_BASE_URL=model.base_url, AGENT_LLM_MODEL="fake-instant", AGENT_WRITE_CONFIRM_SECONDS="4")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

    from ghl_sandbox import constants as sbx
    from ghl_sandbox.testing import SandboxProcess

    server = worker = None
    port = _free_port()
    location = sbx.DEMO_LOCATION_ID
    try:
        with tempfile.TemporaryDirectory(prefix="agent-runner-") as tmpdir, SandboxProcess(
            state=Path(tmpdir) / "sandbox.sqlite3", seed="demo",
            webhook_urls=(f"http://127.0.0.1:{port}/webhooks/ghl/",),
        ) as sandbox:
            env["GHL_API_BASE_URL"] = sandbox.base_url
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "bench.sync_wiring:wsgi_application()", "--bind",
                 f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--log-level", "warning"],
                cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "bench.agent_runner_celery", "worker", "-Q", queue,
                 "-c", str(args.workers), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait_http(f"http://127.0.0.1:{port}/accounts/login/")
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
            p50, p99 = _percentiles(samples)
            overhead_p95 = _p95(overheads) if overheads else float("nan")
            print(f"conversations={len(samples)} reply_p50={p50:.0f} ms reply_p99={p99:.0f} ms "
                  f"max={max(samples):.0f} ms runs_failed={failed} step_overhead_p50="
                  f"{sorted(overheads)[len(overheads) // 2]:.1f} ms nproc={os.cpu_count()}", flush=True)
            print(f"reply_p99_ms={p99:.0f} step_overhead_p95_ms={overhead_p95:.1f}", flush=True)
            return 0
    finally:
        _stop(worker)
        _stop(server)
        model.stop()
        drop_database(database_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")
    sys.exit(main(parser.parse_args()))
