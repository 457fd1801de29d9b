"""The activity page (timeline per agent / contact, pending approvals) and the approve / edit / reject forms."""
import json

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm.models import Contact
from ghl_integration.oauth.views import org_manager_required

from .approvals.models import PendingAction
from .approvals.selectors import activity_timeline, pending_actions
from .approvals.services import pending_action_approve, pending_action_reject
from .models import Agent


def _int(value) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def _activity(request, *, errors: dict | None = None, status: int = 200):
    org = request.organization
    agent_id, contact_id = _int(request.GET.get("agent")), _int(request.GET.get("contact"))
    return render(request, "agents/activity.html", {
        "organization": org, "entries": activity_timeline(organization=org, agent_id=agent_id, contact_id=contact_id),
        "pending": pending_actions(organization=org), "agents": Agent.objects.for_org(org),
        "agent_id": agent_id, "contact": Contact.objects.for_org(org).filter(pk=contact_id).first() if contact_id
        else None, "errors": errors or {},
    }, status=status)


@require_GET
@org_manager_required
def agents_activity(request):
    return _activity(request)


@require_POST
@org_manager_required
def approval_decide(request, action_id: int):
    action = PendingAction.objects.for_org(request.organization).filter(pk=action_id).first()
    if action is None:
        raise Http404("No such pending action")
    try:
        if request.POST.get("decision") == "reject":
            pending_action_reject(action=action, user=request.user)
        elif request.POST.get("decision") == "approve":
            raw = request.POST.get("arguments", "").strip()
            try:
                arguments = json.loads(raw) if raw else None
            except ValueError as exc:
                raise ValidationError({"arguments": f"Not valid JSON: {exc}."})
            if arguments is not None and not isinstance(arguments, dict):
                raise ValidationError({"arguments": "The input must be a JSON object."})
            pending_action_approve(action=action, user=request.user, arguments=arguments)
        else:
            raise ValidationError({"decision": "Approve or reject."})
    except ValidationError as exc:
        return _activity(request, errors={action.pk: " ".join(sum(exc.message_dict.values(), []))}, status=400)
    return redirect("agents_activity", org_id=request.organization.pk)
