"""Reads of the agents app, always scoped to one organization."""
from django.db.models import QuerySet

from tenancy.models import Organization

from .models import Agent, ApiKey, ToolCall


def agent_list(*, organization: Organization) -> QuerySet[Agent]:
    return Agent.objects.for_org(organization)


def agent_get_by_name(*, organization: Organization, name: str) -> Agent | None:
    return Agent.objects.for_org(organization).filter(name=" ".join(name.split())).first()


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_org(organization).select_related("agent")


def tool_call_timeline(*, organization: Organization, limit: int = 100) -> QuerySet[ToolCall]:
    """The organization's latest tool calls, newest first (the owner's activity timeline)."""
    return ToolCall.objects.for_org(organization).select_related("agent").order_by("-created_at", "-id")[:limit]
