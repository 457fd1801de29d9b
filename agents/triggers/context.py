"""What a trigger knows about its event: a flat dict of dotted names ({contact.name}, {message.body}, …) that fills
an instruction template and is sent (nested) with a callback."""
import re
from typing import Any

from crm import events
from crm.models import Appointment, Calendar, Contact, Opportunity, Pipeline, PipelineStage

PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z_]+)*)\}")

# Names a template may use (the agents page lists them); a template using another is refused when saved.
PLACEHOLDERS = (
    "business.name", "event.name",
    "contact.id", "contact.name", "contact.first_name", "contact.phone", "contact.email", "contact.tags",
    "message.body", "message.channel", "message.count",
    "tag", "opportunity.name", "opportunity.status", "pipeline.name", "stage.name",
    "appointment.starts_at", "appointment.status", "calendar.name",
)

DEFAULT_TEMPLATES = {
    events.MESSAGE_RECEIVED: (
        "{contact.name} ({contact.phone}) wrote to us on {message.channel}:\n{message.body}\n\n"
        "Answer them once, on {message.channel}, with send_message to contact {contact.id}. If they ask for a time, "
        "look up free slots first and offer a few."),
    events.CONTACT_CREATED: "A new contact, {contact.name} (contact {contact.id}), was created. Welcome them.",
    events.CONTACT_TAG_ADDED: "Contact {contact.name} (contact {contact.id}) was tagged “{tag}”. Follow up.",
    events.OPPORTUNITY_STAGE_CHANGED: "The deal “{opportunity.name}” of {contact.name} moved to {stage.name} "
                                      "({pipeline.name}). Do what that stage needs.",
    events.OPPORTUNITY_STATUS_CHANGED: "The deal “{opportunity.name}” of {contact.name} is now "
                                       "{opportunity.status}.",
    events.APPOINTMENT_BOOKED: "{contact.name} booked {calendar.name} at {appointment.starts_at}. Confirm it.",
    events.APPOINTMENT_CANCELLED: "{contact.name} cancelled {calendar.name} at {appointment.starts_at}. Offer "
                                  "another time.",
    events.APPOINTMENT_NO_SHOW: "{contact.name} did not come to {calendar.name} at {appointment.starts_at}. Reach "
                                "out and offer another time.",
}


def unknown_placeholders(template: str) -> list[str]:
    return sorted({name for name in PLACEHOLDER.findall(template or "") if name not in PLACEHOLDERS})


def fill(template: str, values: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "") or ""), template)


def _named(model, organization_id: int, pk) -> Any:
    if not pk:
        return None
    return model.objects.for_org(organization_id).filter(pk=pk).first()


def event_values(*, organization, event: str, contact: Contact | None, data: dict) -> dict[str, Any]:
    """The flat values of one event (a burst of messages: their bodies one per line)."""
    values: dict[str, Any] = {"business.name": organization.name, "event.name": event}
    if contact is not None:
        values.update({"contact.id": contact.pk, "contact.name": contact.full_name or contact.email or contact.phone,
                       "contact.first_name": contact.first_name, "contact.phone": contact.phone,
                       "contact.email": contact.email, "contact.tags": ", ".join(contact.tags or [])})
    messages = data.get("messages") or ([data] if "body" in data else [])
    if messages:
        values.update({"message.body": "\n".join(str(m.get("body") or "") for m in messages),
                       "message.channel": messages[-1].get("channel", ""), "message.count": len(messages)})
    if data.get("tag"):
        values["tag"] = data["tag"]
    org_id = organization.pk
    opportunity = _named(Opportunity, org_id, data.get("opportunity_id"))
    if opportunity is not None:
        values.update({"opportunity.name": opportunity.name, "opportunity.status": opportunity.status})
    pipeline = _named(Pipeline, org_id, data.get("pipeline_id") or (opportunity and opportunity.pipeline_id))
    if pipeline is not None:
        values["pipeline.name"] = pipeline.name
    stage = _named(PipelineStage, org_id, data.get("stage_id") or getattr(opportunity, "stage_id", None))
    if stage is not None:
        values["stage.name"] = stage.name
    appointment = _named(Appointment, org_id, data.get("appointment_id"))
    if appointment is not None:
        values.update({"appointment.starts_at": appointment.starts_at.isoformat(),
                       "appointment.status": appointment.status})
    calendar = _named(Calendar, org_id, data.get("calendar_id") or (appointment and appointment.calendar_id))
    if calendar is not None:
        values["calendar.name"] = calendar.name
    return values


def nested(values: dict[str, Any]) -> dict[str, Any]:
    """{"contact.name": x} → {"contact": {"name": x}} (a callback's body)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        head, _, rest = name.partition(".")
        if rest:
            out.setdefault(head, {})[rest] = value
        else:
            out[head] = value
    return out
