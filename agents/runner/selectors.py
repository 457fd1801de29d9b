"""Reads of the runner, scoped to one organization (and, over the API, to the key's agent)."""
from django.db.models import Prefetch, QuerySet

from tenancy.models import Organization

from .models import AgentRun, AgentRunStep


def agent_run_get(*, organization: Organization | int, run_id: int, agent=None) -> AgentRun | None:
    qs = AgentRun.objects.for_org(organization).select_related("agent").prefetch_related(
        Prefetch("steps", queryset=AgentRunStep.objects.order_by("index")))
    if agent is not None:
        qs = qs.filter(agent=agent)
    return qs.filter(pk=run_id).first()


def agent_run_list(*, organization: Organization, limit: int = 50) -> QuerySet[AgentRun]:
    return AgentRun.objects.for_org(organization).select_related("agent", "contact").order_by("-created_at",
                                                                                               "-id")[:limit]


def agent_run_as_dict(run: AgentRun) -> dict:
    """The run as the API shows it: what was asked, each step, tokens, time and outcome."""
    iso = lambda value: value.isoformat() if value else None  # noqa: E731
    steps = []
    for step in run.steps.all():
        if step.kind == AgentRunStep.Kind.MODEL:
            steps.append({"index": step.index, "kind": "model", "content": step.content,
                          "tool_calls": step.requested_calls, "prompt_tokens": step.prompt_tokens,
                          "completion_tokens": step.completion_tokens, "latency_ms": round(step.latency_ms, 1)})
        else:
            steps.append({"index": step.index, "kind": "tool", "tool": step.tool, "call_id": step.call_id,
                          "arguments": step.arguments, "result": step.result, "ok": step.ok,
                          "latency_ms": round(step.latency_ms, 1)})
    return {
        "id": run.pk, "agent": run.agent.name, "source": run.source, "status": run.status,
        "instruction": run.instruction, "transcript": run.transcript, "reply": run.reply,
        "failure_reason": run.failure_reason, "model": run.model,
        "tokens": {"prompt": run.prompt_tokens, "completion": run.completion_tokens},
        "model_calls": run.model_calls, "tool_calls": run.tool_calls,
        "created_at": iso(run.created_at), "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
        "duration_ms": round(run.duration_ms, 1), "steps": steps,
    }
