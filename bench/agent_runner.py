"""The agent at work: from a customer's texts arriving in GHL to the agent's one reply visible in GHL.

Starts a GHL sandbox (webhooks to a product server it starts: gunicorn on a free port), a Celery worker (broker
``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/2``, private queue), the scripted fake model (in this
process, answering at once: `send_message` with the reply, then a final sentence) and a fresh
``<DATABASE_URL name>_agent_runner`` PostgreSQL database. One organization, one agent with a "message received"
trigger, in the production configuration: burst gathering on with the agent's default window
(`Agent.burst_seconds`, 5 s; ``--burst-seconds`` to try another). ``--conversations`` customers, one starting
every ``--interval-ms`` (they overlap, as customers do), each texts ``--burst-messages`` messages
``--burst-gap-ms`` apart; the agent must answer each burst once. The clock of a conversation runs from its last
text to the sandbox holding the agent's outbound SMS.

Figures: ``reply_p99_ms``, that time, which includes the deliberate burst wait; ``reply_net_p99_ms``, the same less
the burst window (webhook, inbox, delivery, run, send, GHL's confirmation: what the product adds);
``step_overhead_p95_ms``, the runner's own time per model turn: a run's duration less the model's calls and the
tools' calls (both recorded per step), divided by its turns. ``replies_max`` is the most replies one
conversation got (1: every burst answered once).

Last line: ``burst_s=<w> reply_p99_ms=<x> reply_net_p99_ms=<x - w> step_overhead_p95_ms=<y> replies_max=<n>``.
Targets: reply_net_p99_ms ≤ 2,000 ms, step_overhead_p95_ms ≤ 50 ms, replies_max = 1.

    python bench/agent_runner.py [--conversations 100] [--workers 2] [--interval-ms 500]
"""
import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    cpu_baseline_ms,
    demo_organization,
    percentile,
    percentiles,
    product_stack,
    run_main,
)

TIMEOUT_S = 30.0
WARM_UP = 3
POLL_S = 0.02


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


_CONTROL = threading.Lock()


def _control(fn, *args, **kwargs):
    """One sandbox control call at a time (the threads share its HTTP session), retried once if the connection
    dropped."""
    import requests

    with _CONTROL:
        try:
            return fn(*args, **kwargs)
        except requests.ConnectionError:
            return fn(*args, **kwargs)


class _Replies:
    """One poller of the sandbox's messages for every conversation: {GHL contact id: [reply times]}."""

    def __init__(self, sandbox, location_id: str):
        self.sandbox, self.location_id = sandbox, location_id
        self.seen: dict[str, float] = {}  # message id -> when first seen
        self.by_contact: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "_Replies":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            for m in _control(self.sandbox.control.objects, "message", location_id=self.location_id):
                if m["direction"] == "outbound" and m["id"] not in self.seen:
                    self.seen[m["id"]] = now
                    self.by_contact.setdefault(m["contactId"], []).append(now)
            time.sleep(POLL_S)

    def wait_first(self, ghl_id: str, deadline: float) -> float:
        while time.monotonic() < deadline:
            if self.by_contact.get(ghl_id):
                return self.by_contact[ghl_id][0]
            time.sleep(POLL_S)
        raise RuntimeError(f"no reply to {ghl_id} within {TIMEOUT_S} s")


def _conversation(sandbox, ghl_id: str, i: int, args, last_sent: dict) -> None:
    texts = ["hi!", f"can I come in Thursday? ({i})", "or Friday", "thanks"][:max(1, args.burst_messages)]
    for n, text in enumerate(texts):
        if n:
            time.sleep(args.burst_gap_ms / 1000)
        _control(sandbox.control.inbound_message, ghl_id, text)
        last_sent[ghl_id] = time.time()


def main(args) -> str:
    from ghl_sandbox import constants as sbx

    baseline_ms = cpu_baseline_ms()
    location = sbx.DEMO_LOCATION_ID
    model = _fake_model()
    try:
        with product_stack("agent_runner", worker_app="bench.agent_runner_celery", worker_concurrency=args.workers,
                           extra_env={"AGENT_LLM_BASE_URL": model.base_url, "AGENT_LLM_MODEL": "fake-instant",
                                      "AGENT_WRITE_CONFIRM_SECONDS": "4"}) as stack:
            sandbox = stack.sandbox
            import logging

            logging.disable(logging.INFO)
            from agents.models import AgentRun, AgentRunStep
            from agents.services import agent_create
            from agents.triggers.services import trigger_create
            from crm import events

            _, org, _ = demo_organization(sandbox, "Runner Clinic")
            agent = agent_create(organization=org, name="Front desk")
            if args.burst_seconds is not None:
                agent.burst_seconds = args.burst_seconds
            agent.max_runs_per_contact_hour = 1000  # one customer per conversation; the cap is not measured
            agent.save()
            burst_s = agent.burst_seconds
            trigger_create(agent=agent, name="Answer texts", event=events.MESSAGE_RECEIVED, channel="sms")

            total = WARM_UP + args.conversations
            ghl_ids = [sandbox.control.change_contact(
                "create", locationId=location, firstName=f"Customer{i}", lastName="Bench",
                phone=f"+1503555{2000 + i:04d}")["contact"]["id"] for i in range(total)]
            time.sleep(2)  # the contacts' webhooks reach the mirror (not measured)
            replies = _Replies(sandbox, location).start()
            last_sent: dict[str, float] = {}
            threads = []
            for i, ghl_id in enumerate(ghl_ids):
                thread = threading.Thread(target=_conversation, args=(sandbox, ghl_id, i, args, last_sent))
                thread.start()
                threads.append(thread)
                time.sleep(args.interval_ms / 1000)
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + TIMEOUT_S + burst_s
            samples = [(replies.wait_first(ghl_id, deadline) - last_sent[ghl_id]) * 1000
                       for ghl_id in ghl_ids[WARM_UP:]]
            time.sleep(burst_s + 1.0)  # a second (wrong) reply to a burst would arrive by now
            replies.stop()
            replies_max = max(len(replies.by_contact.get(g, [])) for g in ghl_ids)
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
            window_ms = burst_s * 1000
            overhead_p95 = percentile(overheads, 0.95) if overheads else float("nan")
            print(f"conversations={len(samples)} burst={args.burst_messages} texts {args.burst_gap_ms} ms apart, "
                  f"window {burst_s} s; from the last text: reply_p50={p50:.0f} ms reply_p99={p99:.0f} ms "
                  f"max={max(samples):.0f} ms; net of the window: p50={p50 - window_ms:.0f} ms "
                  f"p99={p99 - window_ms:.0f} ms; runs={len(runs)} runs_failed={failed} step_overhead_p50="
                  f"{sorted(overheads)[len(overheads) // 2]:.1f} ms nproc={os.cpu_count()} "
                  f"cpu_baseline_ms={baseline_ms:.0f}", flush=True)
            return (f"burst_s={burst_s} reply_p99_ms={p99:.0f} reply_net_p99_ms={p99 - window_ms:.0f} "
                    f"step_overhead_p95_ms={overhead_p95:.1f} replies_max={replies_max}")
    finally:
        model.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")
    parser.add_argument("--interval-ms", type=int, default=500, help="a new conversation starts this often")
    parser.add_argument("--burst-messages", type=int, default=2, help="texts per conversation (1-4)")
    parser.add_argument("--burst-gap-ms", type=int, default=1000, help="between a conversation's texts")
    parser.add_argument("--burst-seconds", type=int, default=None,
                        help="the agent's burst window; default: the product's default (Agent.burst_seconds)")
    arguments = parser.parse_args()
    sys.exit(run_main(lambda: main(arguments)))
