"""Writes of triggers: create (validated; a callback's signing secret is returned once), switch on/off, delete."""
from django.core.exceptions import ValidationError

from crm import events
from crm.models import Calendar, Pipeline, PipelineStage

from ..models import Agent
from .callbacks import new_secret, url_problem
from .context import PLACEHOLDERS, unknown_placeholders
from .models import Trigger

CHANNELS = ("sms", "email", "whatsapp", "call", "fb", "ig", "live_chat", "gmb")


def trigger_create(*, agent: Agent, name: str, event: str, action: str = Trigger.Action.RUN_AGENT,
                   instruction_template: str = "", callback_url: str = "", channel: str = "", tag: str = "",
                   pipeline_id: int | None = None, stage_id: int | None = None,
                   calendar_id: int | None = None) -> tuple[Trigger, str]:
    """A new trigger of `agent`'s organization; returns it and the callback secret (empty for run_agent)."""
    org_id = agent.organization_id
    errors: dict[str, str] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["name"] = "A trigger needs a name."
    elif Trigger.objects.for_org(org_id).filter(name=name).exists():
        errors["name"] = f"There is already a trigger named “{name}”."
    if event not in events.EVENTS:
        errors["event"] = f"Unknown event; one of: {', '.join(events.EVENTS)}."
    channel = (channel or "").strip().lower()
    if channel and channel not in CHANNELS:
        errors["channel"] = f"Unknown channel; one of: {', '.join(CHANNELS)}."
    if channel and event != events.MESSAGE_RECEIVED:
        errors["channel"] = "A channel filter applies to “message received” only."
    if tag and event != events.CONTACT_TAG_ADDED:
        errors["tag"] = "A tag filter applies to “tag added” only."
    pipeline = Pipeline.objects.for_org(org_id).filter(pk=pipeline_id).first() if pipeline_id else None
    stage = PipelineStage.objects.for_org(org_id).filter(pk=stage_id).first() if stage_id else None
    calendar = Calendar.objects.for_org(org_id).filter(pk=calendar_id).first() if calendar_id else None
    for field, wanted, found in (("pipeline", pipeline_id, pipeline), ("stage", stage_id, stage),
                                 ("calendar", calendar_id, calendar)):
        if wanted and found is None:
            errors[field] = f"No such {field} in this organization."
    if stage and pipeline and stage.pipeline_id != pipeline.pk:
        errors["stage"] = f"“{stage.name}” is not a stage of {pipeline.name}."
    if action not in Trigger.Action.values:
        errors["action"] = "Run the built-in agent, or call your own runtime."
    unknown = unknown_placeholders(instruction_template)
    if unknown:
        errors["instruction_template"] = (f"Unknown placeholders: {', '.join('{' + u + '}' for u in unknown)}; "
                                          f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}.")
    secret = ""
    if action == Trigger.Action.CALLBACK:
        problem = url_problem(callback_url)
        if problem:
            errors["callback_url"] = problem
        secret = new_secret()
    if errors:
        raise ValidationError(errors)
    trigger = Trigger.objects.create(
        organization_id=org_id, agent=agent, name=name, event=event, action=action,
        instruction_template=instruction_template.strip(), callback_url=callback_url if secret else "",
        callback_secret=secret or None, channel=channel, tag=tag.strip(), pipeline=pipeline, stage=stage,
        calendar=calendar)
    return trigger, secret


def trigger_set_active(*, trigger: Trigger, active: bool) -> Trigger:
    Trigger.objects.filter(pk=trigger.pk).update(is_active=active)
    trigger.is_active = active
    return trigger
