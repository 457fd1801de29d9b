"""The owner's agents page (agents, keys, families) and the activity timeline; owner/admin only."""
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

# The org-manager decorator is moving to tenancy/permissions.py (another branch); re-point this one import.
from ghl_integration.oauth.views import org_manager_required

from .models import TOOL_FAMILIES, Agent, ApiKey
from .selectors import agent_list, api_key_list
from .services import agent_create, api_key_create, api_key_revoke


def agents_page_render(request, *, new_key: str = "", new_key_agent: Agent | None = None, errors: dict | None = None,
          status: int = 200, **extra):
    """The agents page (agents, keys, triggers) with a form's outcome; the trigger views answer through it too."""
    from .trigger_views import triggers_context

    org = request.organization
    return render(request, "agents/agents.html", {
        "organization": org, "agents": agent_list(organization=org), "keys": api_key_list(organization=org),
        "families": TOOL_FAMILIES, "new_key": new_key, "new_key_agent": new_key_agent, "errors": errors or {},
        **triggers_context(org), **extra,
    }, status=status)


@require_http_methods(["GET", "POST"])
@org_manager_required
def agents_page(request):
    if request.method == "GET":
        return agents_page_render(request)
    families = [f for f in request.POST.getlist("families") if f in TOOL_FAMILIES]
    try:
        agent = agent_create(organization=request.organization, name=request.POST.get("name", ""),
                             instructions=request.POST.get("instructions", ""), enabled_families=families)
    except ValidationError as exc:
        return agents_page_render(request, errors=exc.message_dict, status=400)
    key, raw = api_key_create(agent=agent, label="created with the agent")
    # Shown in this response only: the key is stored hashed and cannot be displayed again.
    return agents_page_render(request, new_key=raw, new_key_agent=agent)


@require_POST
@org_manager_required
def agent_key_create(request, agent_id: int):
    agent = Agent.objects.for_org(request.organization).filter(pk=agent_id).first()
    if agent is None:
        raise Http404("No such agent")
    key, raw = api_key_create(agent=agent, label=request.POST.get("label", "")[:120])
    return agents_page_render(request, new_key=raw, new_key_agent=agent)


@require_POST
@org_manager_required
def agent_key_revoke(request, key_id: int):
    key = ApiKey.objects.for_org(request.organization).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such key")
    api_key_revoke(api_key=key)
    return redirect("agents_page", org_id=request.organization.pk)
