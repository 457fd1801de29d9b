"""From a business event to agent work: match the organization's triggers, gather bursts, check the agent's
good-employee rules, then start a run or deliver a signed callback (retried for a day).

    business_event ─► on_business_event (receiver; after the commit of the change)
        the acting agent's own change → skipped;  a person's message from GHL → HumanTakeover
        message received → a "gathering" delivery per trigger+contact; later messages join it, pushing due_at
        other events     → a pending delivery, due now
    trigger_delivery_process(id) (task; the sweep catches lost ones)
        gathering/pending: behaviour.check → run the agent (instruction template) / deliver the callback
        retrying: deliver again; after a day → dead
"""
import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm import events
from crm.models import Contact
from tenancy.models import Organization

from ..runner.models import AgentRun
from ..runner.services import agent_run_start
from . import behaviour, callbacks
from .context import DEFAULT_TEMPLATES, event_values, fill, nested
from .models import Trigger, TriggerDelivery

logger = logging.getLogger(__name__)

# Sent by a person or a workflow in GHL (not our agents): crm.events.MESSAGE_SENT, once channels land it.
MESSAGE_SENT = getattr(events, "MESSAGE_SENT", "message.sent")
AGENT_SENDER = "agent"
SWEEP_GRACE = timedelta(seconds=2)
OPEN_STATUSES = (TriggerDelivery.Status.GATHERING, TriggerDelivery.Status.PENDING, TriggerDelivery.Status.RETRYING)


def _matches(trigger: Trigger, data: dict) -> bool:
    if trigger.channel and str(data.get("channel", "")).lower() != trigger.channel.lower():
        return False
    if trigger.tag:
        tags = [data.get("tag")] if data.get("tag") else list(data.get("tags") or [])
        if trigger.tag.lower() not in {str(t).lower() for t in tags}:
            return False
    for name in ("pipeline", "stage", "calendar"):
        wanted = getattr(trigger, f"{name}_id")
        if wanted and data.get(f"{name}_id") != wanted:
            return False
    return True


def on_business_event(*, event: str, organization_id: int, contact_id: int | None = None, data: dict | None = None,
                      acting_agent_id: int | None = None, **_: object) -> None:
    """The `crm.events.business_event` receiver (connected in AgentsConfig.ready)."""
    data = dict(data or {})
    if event == MESSAGE_SENT and contact_id and acting_agent_id is None and data.get("sender_type") != AGENT_SENDER:
        behaviour.takeover_record(organization_id=organization_id, contact_id=contact_id, at=timezone.now())
    triggers = (Trigger.objects.for_org(organization_id).filter(is_active=True, event=event, agent__is_active=True)
                .select_related("agent"))
    for trigger in triggers:
        if not _matches(trigger, data):
            continue
        if acting_agent_id is not None and acting_agent_id == trigger.agent_id:
            continue  # the agent's own action (its reply, its tag): never a reason to act again
        if event == events.MESSAGE_RECEIVED:
            delivery = _gather(trigger, contact_id=contact_id, data=data)
            if delivery is not None:
                _queue(delivery.pk, countdown=trigger.agent.burst_seconds)
        else:
            delivery = TriggerDelivery.objects.create(organization_id=organization_id, trigger=trigger, event=event,
                                                      contact_id=contact_id, data=data)
            _queue(delivery.pk)


def _in_sent_order(messages: list[dict]) -> list[dict]:
    """A burst's messages in the order the person sent them: GHL delivers webhooks concurrently, so they can
    arrive here out of order (a message without a send time keeps its place after the timed ones)."""
    timed = sorted((m for m in messages if m.get("sent_at")), key=lambda m: datetime.fromisoformat(m["sent_at"]))
    return timed + [m for m in messages if not m.get("sent_at")]


def _gather(trigger: Trigger, *, contact_id: int | None, data: dict) -> TriggerDelivery | None:
    """Join the burst being gathered for this trigger and contact (or start one); None for a message seen before."""
    due = timezone.now() + timedelta(seconds=trigger.agent.burst_seconds)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                open_one = (TriggerDelivery.objects.select_for_update()
                            .filter(trigger=trigger, contact_id=contact_id, status=TriggerDelivery.Status.GATHERING)
                            .first())
                if open_one is None:
                    if _seen(trigger, contact_id, data.get("message_id")):
                        return None
                    return TriggerDelivery.objects.create(
                        organization_id=trigger.organization_id, trigger=trigger, event=events.MESSAGE_RECEIVED,
                        contact_id=contact_id, data={"messages": [data]}, status=TriggerDelivery.Status.GATHERING,
                        due_at=due)
                messages = list(open_one.data.get("messages") or [])
                if data.get("message_id") and any(m.get("message_id") == data["message_id"] for m in messages):
                    return None
                open_one.data = {**open_one.data, "messages": _in_sent_order([*messages, data])}
                open_one.due_at = due
                open_one.save(update_fields=["data", "due_at"])
                return open_one
        except IntegrityError:  # another message of the burst started it at the same moment: join that one
            continue
    raise RuntimeError(f"could not gather a burst for trigger {trigger.pk}")


def _seen(trigger: Trigger, contact_id: int | None, message_id) -> bool:
    if not message_id:
        return False
    recent = TriggerDelivery.objects.filter(trigger=trigger, contact_id=contact_id,
                                            created_at__gt=timezone.now() - timedelta(days=1))
    return any(m.get("message_id") == message_id for d in recent.only("data")
               for m in (d.data.get("messages") or []))


def _queue(delivery_id: int, *, countdown: float = 0) -> None:
    from ..tasks import trigger_delivery_process_task

    def send() -> None:
        try:
            trigger_delivery_process_task.apply_async((delivery_id,), countdown=countdown or None)
        except Exception as exc:  # the broker is down: the sweep delivers it
            logger.warning("agents.trigger.queue-failed", extra={"delivery_id": delivery_id,
                                                                 "error": type(exc).__name__})

    transaction.on_commit(send)


def trigger_delivery_process(*, delivery_id: int) -> TriggerDelivery | None:
    """Act on one delivery if it is due (idempotent: a delivery that is done or not yet due is left alone)."""
    with transaction.atomic():
        delivery = (TriggerDelivery.objects.select_for_update(skip_locked=True).select_related("trigger__agent")
                    .filter(pk=delivery_id, status__in=OPEN_STATUSES).first())
        if delivery is None or delivery.due_at > timezone.now():
            return delivery  # done, being processed, or a later message pushed the burst's due time
        if delivery.status == TriggerDelivery.Status.RETRYING:
            return _callback(delivery)
        verdict = behaviour.check(agent=delivery.trigger.agent, contact_id=delivery.contact_id)
        if verdict.wait_until is not None:
            delivery.status, delivery.due_at, delivery.reason = (TriggerDelivery.Status.PENDING, verdict.wait_until,
                                                                 verdict.reason)
            delivery.save(update_fields=["status", "due_at", "reason"])
            _queue(delivery.pk, countdown=(verdict.wait_until - timezone.now()).total_seconds())
            return delivery
        if not verdict.go:
            return _finish(delivery, TriggerDelivery.Status.SKIPPED, verdict.reason)
        if delivery.trigger.action == Trigger.Action.CALLBACK:
            return _callback(delivery)
        return _run_agent(delivery)


def _values(delivery: TriggerDelivery) -> dict:
    org = Organization.objects.get(pk=delivery.organization_id)
    contact = Contact.objects.for_org(org).filter(pk=delivery.contact_id).first() if delivery.contact_id else None
    return event_values(organization=org, event=delivery.event, contact=contact, data=delivery.data)


def _run_agent(delivery: TriggerDelivery) -> TriggerDelivery:
    trigger = delivery.trigger
    template = trigger.instruction_template.strip() or DEFAULT_TEMPLATES.get(delivery.event, "")
    run = agent_run_start(agent=trigger.agent, instruction=fill(template, _values(delivery)),
                          source=AgentRun.Source.TRIGGER, contact_id=delivery.contact_id)
    delivery.run = run
    if run.status == AgentRun.Status.REFUSED:
        return _finish(delivery, TriggerDelivery.Status.SKIPPED, run.failure_reason)
    return _finish(delivery, TriggerDelivery.Status.RAN, "")


def _contact_context(delivery: TriggerDelivery) -> dict | None:
    """What get_contact_context answers about the delivery's contact (deals, appointments, last messages)."""
    if not delivery.contact_id:
        return None
    from ..tools.contacts import get_contact_context
    from ..tools.dispatch import ToolContext
    from ..tools.errors import ToolError

    agent = delivery.trigger.agent
    ctx = ToolContext(organization=agent.organization, agent=agent, surface="runner")
    try:
        return get_contact_context(ctx, contact=str(delivery.contact_id))
    except ToolError:
        return None


def callback_payload(delivery: TriggerDelivery) -> dict:
    values = _values(delivery)
    return {"id": f"tdl_{delivery.pk}", "type": delivery.event, "created": int(delivery.created_at.timestamp()),
            "trigger": delivery.trigger.name, "agent": delivery.trigger.agent.name, "context": nested(values),
            "contact_context": _contact_context(delivery), "data": delivery.data}


def _callback(delivery: TriggerDelivery) -> TriggerDelivery:
    trigger = delivery.trigger
    attempt = callbacks.deliver(url=trigger.callback_url, secret=trigger.callback_secret,
                                delivery_id=f"tdl_{delivery.pk}", payload=callback_payload(delivery))
    delivery.attempts += 1
    delivery.last_status_code = attempt.status_code
    if attempt.ok:
        return _finish(delivery, TriggerDelivery.Status.DELIVERED, "")
    logger.warning("agents.trigger.callback-failed", extra={"delivery_id": delivery.pk, "error": attempt.error,
                                                            "attempt": delivery.attempts})
    if not attempt.retryable:
        return _finish(delivery, TriggerDelivery.Status.DEAD, f"{attempt.error} (not retried: fix the receiver, "
                                                              "then replay it in admin)")
    next_at = timezone.now() + callbacks.backoff(delivery.attempts)
    if next_at - delivery.window_started_at > callbacks.GIVE_UP_AFTER:
        return _finish(delivery, TriggerDelivery.Status.DEAD, f"{attempt.error}; given up after a day")
    delivery.status, delivery.due_at, delivery.reason = TriggerDelivery.Status.RETRYING, next_at, attempt.error
    delivery.save(update_fields=["status", "due_at", "reason", "attempts", "last_status_code"])
    _queue(delivery.pk, countdown=(next_at - timezone.now()).total_seconds())
    return delivery


def _finish(delivery: TriggerDelivery, status: str, reason: str) -> TriggerDelivery:
    delivery.status, delivery.reason, delivery.finished_at = status, reason, timezone.now()
    delivery.save(update_fields=["status", "reason", "finished_at", "run", "attempts", "last_status_code"])
    return delivery


def trigger_deliveries_sweep(*, grace: timedelta = SWEEP_GRACE) -> int:
    """Process every open delivery past its due time (lost messages, retries, openings of business hours).

    `grace` leaves alone what its own queued task is about to process."""
    due = list(TriggerDelivery.objects.filter(status__in=OPEN_STATUSES, due_at__lte=timezone.now() - grace)
               .values_list("pk", flat=True)[:500])
    for delivery_id in due:
        trigger_delivery_process(delivery_id=delivery_id)
    return len(due)


def trigger_delivery_replay(*, delivery: TriggerDelivery) -> TriggerDelivery:
    """Deliver again (admin's replay): a new attempt now, whatever happened before."""
    TriggerDelivery.objects.filter(pk=delivery.pk).update(
        status=TriggerDelivery.Status.RETRYING if delivery.trigger.action == Trigger.Action.CALLBACK
        else TriggerDelivery.Status.PENDING, due_at=timezone.now(), window_started_at=timezone.now(), finished_at=None,
        attempts=0)
    return trigger_delivery_process(delivery_id=delivery.pk)
