"""The owner's triggers (on the agents page), the "Ask the agent" box and a run's page; owner/admin only."""
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm.models import Calendar, Pipeline, PipelineStage
from ghl_integration.oauth.views import org_manager_required

from .models import Agent, AgentRun, Trigger, TriggerDelivery
from .runner.selectors import agent_run_as_dict, agent_run_get
from .runner.services import agent_run_start
from .triggers.context import PLACEHOLDERS
from .triggers.models import EVENT_CHOICES
from .triggers.services import CHANNELS, trigger_create, trigger_set_active


def triggers_context(organization) -> dict:
    """What the agents page shows about triggers (its form's choices and the latest deliveries)."""
    return {
        "triggers": Trigger.objects.for_org(organization).select_related("agent", "pipeline", "stage", "calendar"),
        "deliveries": TriggerDelivery.objects.for_org(organization).select_related("trigger", "contact", "run")[:20],
        "event_choices": EVENT_CHOICES, "channels": CHANNELS, "placeholders": PLACEHOLDERS,
        "pipelines": Pipeline.objects.for_org(organization).active(),
        "stages": PipelineStage.objects.for_org(organization).select_related("pipeline"),
        "calendars": Calendar.objects.for_org(organization).active(),
        "actions": Trigger.Action.choices,
    }


def _int(value) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


@require_POST
@org_manager_required
def trigger_add(request):
    from .views import agents_page_render

    org = request.organization
    post = request.POST
    agent = Agent.objects.for_org(org).filter(pk=_int(post.get("agent"))).first()
    if agent is None:
        return agents_page_render(request, errors={"trigger_agent": ["Choose the agent that acts."]}, status=400)
    try:
        trigger, secret = trigger_create(
            agent=agent, name=post.get("name", ""), event=post.get("event", ""), action=post.get("action", ""),
            instruction_template=post.get("instruction_template", ""), callback_url=post.get("callback_url", ""),
            channel=post.get("channel", ""), tag=post.get("tag", ""), pipeline_id=_int(post.get("pipeline")),
            stage_id=_int(post.get("stage")), calendar_id=_int(post.get("calendar")))
    except ValidationError as exc:
        return agents_page_render(request, errors={f"trigger_{k}": v for k, v in exc.message_dict.items()}, status=400)
    return agents_page_render(request, new_trigger=trigger, new_trigger_secret=secret)


@require_POST
@org_manager_required
def trigger_toggle(request, trigger_id: int):
    trigger = Trigger.objects.for_org(request.organization).filter(pk=trigger_id).first()
    if trigger is None:
        raise Http404("No such trigger")
    trigger_set_active(trigger=trigger, active=not trigger.is_active)
    return redirect("agents_page", org_id=request.organization.pk)


@require_POST
@org_manager_required
def agent_ask(request):
    """The owner's "Ask the agent" box: start a run and show it."""
    from .views import agents_page_render

    agent = Agent.objects.for_org(request.organization).filter(pk=_int(request.POST.get("agent"))).first()
    if agent is None:
        return agents_page_render(request, errors={"ask_agent": ["Choose an agent."]}, status=400)
    try:
        run = agent_run_start(agent=agent, instruction=request.POST.get("instruction", ""),
                              source=AgentRun.Source.OWNER)
    except ValidationError as exc:
        return agents_page_render(request, errors={f"ask_{k}": v for k, v in exc.message_dict.items()}, status=400)
    return redirect("agents_run", org_id=request.organization.pk, run_id=run.pk)


@require_GET
@org_manager_required
def agent_run_page(request, run_id: int):
    run = agent_run_get(organization=request.organization, run_id=run_id)
    if run is None:
        raise Http404("No such run")
    return render(request, "agents/run.html", {"organization": request.organization, "run": agent_run_as_dict(run),
                                               "finished": run.status in AgentRun.FINISHED,
                                               })


def _whole(value, default: int):
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return value  # refused by the service with the field's rule


@require_POST
@org_manager_required
def agent_settings(request, agent_id: int):
    """An agent's write policy (approvals), model, tool families and good-employee settings."""
    import json

    from .services import agent_update_settings
    from .views import agents_page_render

    agent = Agent.objects.for_org(request.organization).filter(pk=agent_id).first()
    if agent is None:
        raise Http404("No such agent")
    post = request.POST
    try:
        raw_hours = post.get("business_hours", "").strip()
        try:
            hours = json.loads(raw_hours) if raw_hours else []
        except ValueError:
            raise ValidationError({"business_hours": "Not valid JSON."})
        agent_update_settings(
            agent=agent, write_policy=post.get("write_policy", ""), model=post.get("model", ""),
            burst_seconds=_whole(post.get("burst_seconds"), 5),
            takeover_minutes=_whole(post.get("takeover_minutes"), 60),
            max_runs_per_contact_hour=_whole(post.get("max_runs_per_contact_hour"), 5),
            off_hours=post.get("off_hours", "wait"), business_hours=hours,
            # The form marks that it carries the family boxes, so that none ticked means none (not "unchanged").
            enabled_families=post.getlist("families") if post.get("families_shown") else None)
    except ValidationError as exc:
        return agents_page_render(request, errors={f"settings_{agent.pk}_{k}": v for k, v in exc.message_dict.items()},
                     settings_errors=[f"{agent.name}: {k}: {' '.join(v)}" for k, v in exc.message_dict.items()],
                     status=400)
    return redirect("agents_page", org_id=request.organization.pk)
