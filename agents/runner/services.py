"""Writes of the runner: start a run (queued for a worker), requeue runs whose message was lost, and close runs
whose worker died."""
import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import Agent
from .model_client import NOT_CONFIGURED, model_config_for
from .models import AgentRun, AgentRunStep

logger = logging.getLogger(__name__)

MAX_INSTRUCTION_CHARS = 4000
# A queued run no worker has claimed after this long had its message lost (broker down): queue it again.
REQUEUE_AFTER = timedelta(minutes=2)
# A run still "running" this long after it started outlived the runner's own bound (RUN_TIMEOUT_S): the worker
# running it died. It is closed as failed, never run again, since some of its writes may have reached GHL.
ABANDONED_AFTER = timedelta(minutes=5)


def agent_run_start(*, agent: Agent, instruction: str, source: str = AgentRun.Source.API, contact_id=None,
                    transcript: str = "", audio_name: str = "") -> AgentRun:
    """Record a run and queue it after the commit; with no model configured it is recorded as refused."""
    instruction = (instruction or "").strip()
    if not instruction:
        raise ValidationError({"instruction": "Say what the agent should do, e.g. “text Jane Doe that her order "
                                              "is ready”."})
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise ValidationError({"instruction": f"At most {MAX_INSTRUCTION_CHARS} characters (this one has "
                                              f"{len(instruction)})."})
    if not agent.is_active:
        raise ValidationError({"agent": f"Agent “{agent.name}” is switched off."})
    fields = dict(organization_id=agent.organization_id, agent=agent, source=source, instruction=instruction,
                  contact_id=contact_id, transcript=transcript, audio_name=audio_name[:255])
    config = model_config_for(agent)
    if config is None:
        now = timezone.now()
        return AgentRun.objects.create(**fields, status=AgentRun.Status.REFUSED, failure_reason=NOT_CONFIGURED,
                                       started_at=now, finished_at=now)
    run = AgentRun.objects.create(**fields, model=config.model)
    transaction.on_commit(lambda: _queue(run.pk))
    return run


def _queue(run_id: int) -> None:
    from ..tasks import agent_run_execute_task

    try:
        agent_run_execute_task.delay(run_id)
    except Exception as exc:  # the broker is down: the sweep queues it again (agent_runs_requeue_stale)
        logger.warning("agents.runner.queue-failed", extra={"run_id": run_id, "error": type(exc).__name__})


def agent_runs_requeue_stale() -> int:
    """Queue again every run still queued REQUEUE_AFTER after it was created (its message was lost)."""
    stale = list(AgentRun.objects.filter(status=AgentRun.Status.QUEUED,
                                         created_at__lt=timezone.now() - REQUEUE_AFTER)
                 .values_list("pk", flat=True)[:500])
    for run_id in stale:
        _queue(run_id)
    return len(stale)


def agent_runs_close_abandoned() -> int:
    """Close as failed every run still running ABANDONED_AFTER after it started, saying which tools had run."""
    cutoff = timezone.now() - ABANDONED_AFTER
    closed = 0
    for run in AgentRun.objects.filter(status=AgentRun.Status.RUNNING, started_at__lt=cutoff)[:500]:
        done = list(run.steps.filter(kind=AgentRunStep.Kind.TOOL, ok=True).values_list("tool", flat=True))
        reason = ("The worker running this run stopped before it finished; it was not run again, so nothing is "
                  "repeated. " + (f"Tools that had already run: {', '.join(done)}." if done else "No tool had run."))
        closed += AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(
            status=AgentRun.Status.FAILED, failure_reason=reason, finished_at=timezone.now())
        logger.warning("agents.runner.abandoned", extra={"run_id": run.pk, "organization_id": run.organization_id,
                                                         "tools_done": len(done)})
    return closed
