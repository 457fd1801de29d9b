"""The activity timeline: runs, tool calls, trigger deliveries and pending approvals, per agent and per contact."""
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from ..models import AgentRun, AgentRunStep, ToolCall, TriggerDelivery
from .models import PendingAction


@dataclass
class Entry:
    at: datetime
    kind: str  # run | tool_call | delivery | approval
    item: Any


def activity_timeline(*, organization, agent_id: int | None = None, contact_id: int | None = None,
                      limit: int = 100) -> list[Entry]:
    runs = AgentRun.objects.for_org(organization).select_related("agent", "contact")
    deliveries = TriggerDelivery.objects.for_org(organization).select_related("trigger__agent", "contact", "run")
    approvals = PendingAction.objects.for_org(organization).select_related("agent", "contact", "decided_by")
    calls = ToolCall.objects.for_org(organization).select_related("agent", "contact")
    if agent_id:
        runs, approvals, calls = runs.filter(agent_id=agent_id), approvals.filter(agent_id=agent_id), \
            calls.filter(agent_id=agent_id)
        deliveries = deliveries.filter(trigger__agent_id=agent_id)
    if contact_id:
        # A run is about the contact when it was started for them (a trigger) or one of its calls concerned them
        # (an owner's "text Jane"); its calls are shown inside it.
        about = ToolCall.objects.for_org(organization).filter(contact_id=contact_id, run__isnull=False)
        runs = runs.filter(Q(contact_id=contact_id) | Q(pk__in=about.values("run_id")))
        deliveries = deliveries.filter(contact_id=contact_id)
        approvals = approvals.filter(contact_id=contact_id)
        # Calls of REST and MCP agents about this person; the runner's are shown inside their runs.
        calls = calls.filter(contact_id=contact_id).exclude(surface=ToolCall.Surface.RUNNER)
    entries = [Entry(r.created_at, "run", r) for r in runs[:limit]]
    entries += [Entry(d.created_at, "delivery", d) for d in deliveries[:limit]]
    entries += [Entry(a.created_at, "approval", a) for a in approvals[:limit]]
    entries += [Entry(c.created_at, "tool_call", c) for c in calls[:limit]]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def pending_actions(*, organization) -> list[PendingAction]:
    return list(PendingAction.objects.for_org(organization).filter(status=PendingAction.Status.PENDING)
                .select_related("agent", "contact").order_by("created_at")[:100])


def run_tools(run: AgentRun) -> list[AgentRunStep]:
    return list(run.steps.filter(kind=AgentRunStep.Kind.TOOL).order_by("index"))
