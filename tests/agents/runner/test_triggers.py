"""Triggers: events → the built-in agent or a signed callback, with the good-employee rules."""
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.models import AgentRun, Trigger, TriggerDelivery
from agents.triggers import callbacks
from agents.triggers.fire import (
    on_business_event,
    trigger_deliveries_sweep,
    trigger_delivery_process,
    trigger_delivery_replay,
)
from agents.triggers.services import trigger_create
from crm import events
from crm.services.contacts import contact_create, contact_update
from tests.agents.fake_model import call, say

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jane(org):
    return contact_create(organization=org, first_name="Jane", last_name="Doe", phone="+15035550101")


@pytest.fixture
def answering(fake_model, eager_runs):
    fake_model.rule(".")(lambda m, c: say("noted"))
    return fake_model


def inbound(org, contact, body, message_id):
    events.emit(events.MESSAGE_RECEIVED, organization_id=org.pk, contact_id=contact.pk,
                data={"channel": "sms", "message_id": message_id, "body": body})


def test_a_tag_added_by_a_person_runs_the_agent_with_the_filled_template(answering, agent, org, jane):
    trigger_create(agent=agent, name="VIP welcome", event=events.CONTACT_TAG_ADDED, tag="vip",
                   instruction_template="Welcome {contact.name} ({contact.phone}) to the {tag} club.")
    contact_update(contact=jane, tags=["other"])
    assert not TriggerDelivery.objects.exists()  # the filter: another tag
    contact_update(contact=jane, tags=["other", "vip"])
    delivery = TriggerDelivery.objects.get()
    assert delivery.status == "ran" and delivery.run.source == "trigger" and delivery.run.contact_id == jane.pk
    assert delivery.run.instruction == "Welcome Jane Doe (+15035550101) to the vip club."
    assert AgentRun.objects.get().status == "succeeded"


def test_the_agents_own_action_does_not_trigger_it(fake_model, eager_runs, agent, org, connected, jane):
    trigger_create(agent=agent, name="VIP", event=events.CONTACT_TAG_ADDED, tag="vip")

    @fake_model.rule("tag")
    def tag(match, conv):
        return say("done") if conv.results else call("add_tags", contact=str(jane.pk), tags=["vip"])

    from agents.runner.loop import agent_run_execute
    from agents.runner.services import agent_run_start
    run = agent_run_execute(run_id=agent_run_start(agent=agent, instruction="tag Jane as vip").pk)
    assert run.status == "succeeded" and run.steps.filter(kind="tool", ok=True).count() == 1
    assert not TriggerDelivery.objects.exists()


def test_a_burst_is_answered_once_and_a_repeated_message_is_ignored(answering, agent, org, jane):
    agent.burst_seconds = 1
    agent.save()
    trigger_create(agent=agent, name="Answer SMS", event=events.MESSAGE_RECEIVED, channel="sms")
    inbound(org, jane, "hi", 1)
    inbound(org, jane, "can I come in", 2)
    inbound(org, jane, "can I come in", 2)  # the same message again
    inbound(org, jane, "Thursday?", 3)
    delivery = TriggerDelivery.objects.get()
    assert delivery.status == "gathering" and not AgentRun.objects.exists()
    time.sleep(1.1)
    assert trigger_deliveries_sweep(grace=timedelta(0)) == 1
    delivery.refresh_from_db()
    assert delivery.status == "ran"
    assert AgentRun.objects.get().instruction.count("can I come in") == 1
    assert "hi\ncan I come in\nThursday?" in AgentRun.objects.get().instruction
    inbound(org, jane, "can I come in", 2)  # redelivered after the answer
    assert TriggerDelivery.objects.count() == 1


def test_a_burst_arriving_out_of_order_is_read_in_the_order_it_was_sent(answering, agent, org, jane):
    # GHL delivers webhooks concurrently: the third text can be received here before the second
    agent.burst_seconds = 1
    agent.save()
    trigger_create(agent=agent, name="Answer SMS", event=events.MESSAGE_RECEIVED, channel="sms")
    for body, message_id, second in (("hi", 1, 1), ("Thursday?", 3, 3), ("can I come in", 2, 2)):
        events.emit(events.MESSAGE_RECEIVED, organization_id=org.pk, contact_id=jane.pk,
                    data={"channel": "sms", "message_id": message_id, "body": body,
                          "sent_at": f"2026-12-01T10:00:0{second}.250000+00:00"})
    time.sleep(1.1)
    assert trigger_deliveries_sweep(grace=timedelta(0)) == 1
    assert "hi\ncan I come in\nThursday?" in AgentRun.objects.get().instruction


def test_a_persons_reply_from_ghl_makes_the_agent_stand_down(answering, agent, org, jane):
    agent.burst_seconds = 0
    agent.save()
    trigger_create(agent=agent, name="Answer SMS", event=events.MESSAGE_RECEIVED)
    # a person's reply in GHL (channels emit "message.sent" for it; called here as the receiver gets it)
    on_business_event(event="message.sent", organization_id=org.pk, contact_id=jane.pk, acting_agent_id=None,
                      data={"channel": "sms", "message_id": 9, "body": "I'll take it from here",
                            "sender_type": "user", "direction": "outbound"})
    inbound(org, jane, "thanks!", 10)
    delivery = TriggerDelivery.objects.get(event=events.MESSAGE_RECEIVED)
    assert delivery.status == "skipped" and "stands down" in delivery.reason
    assert not AgentRun.objects.exists()
    # the agent's own messages never count as a takeover
    on_business_event(event="message.sent", organization_id=org.pk, contact_id=jane.pk, acting_agent_id=None,
                      data={"sender_type": "agent"})


def test_outside_business_hours_the_agent_waits_or_does_nothing(answering, agent, org, jane):
    now = timezone.now()
    closed_today = [{"days": [(now.weekday() + 2) % 7], "open": "09:00", "close": "10:00"}]  # tomorrow only
    agent.business_hours, agent.off_hours, agent.burst_seconds = closed_today, "skip", 0
    agent.save()
    trigger_create(agent=agent, name="Answer", event=events.MESSAGE_RECEIVED)
    inbound(org, jane, "hello?", 1)
    first = TriggerDelivery.objects.get()
    assert first.status == "skipped" and "Outside business hours" in first.reason
    agent.off_hours = "wait"
    agent.save()
    inbound(org, jane, "hello again?", 2)
    second = TriggerDelivery.objects.exclude(pk=first.pk).get()
    assert second.status == "pending" and second.due_at > now and "waiting for the opening" in second.reason
    assert not AgentRun.objects.exists()


def test_runs_per_contact_per_hour_are_capped(answering, agent, org, jane):
    agent.max_runs_per_contact_hour, agent.burst_seconds = 1, 0
    agent.save()
    trigger_create(agent=agent, name="Answer", event=events.MESSAGE_RECEIVED)
    inbound(org, jane, "one", 1)
    inbound(org, jane, "two", 2)
    assert list(TriggerDelivery.objects.order_by("id").values_list("status", flat=True)) == ["ran", "skipped"]
    assert "cap 1" in TriggerDelivery.objects.order_by("id").last().reason


class Receiver:
    """A local HTTP receiver of callbacks answering the scripted statuses in turn."""

    def __init__(self, statuses):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/agentlevel"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_a_signed_callback_verifies_and_is_retried_after_a_500(eager_runs, agent, org, jane, receiver):
    hook = receiver([500, 200])
    trigger, secret = trigger_create(agent=agent, name="Our runtime", event=events.CONTACT_TAG_ADDED,
                                     action="callback", callback_url=hook.url)
    assert secret.startswith("whsec_")
    contact_update(contact=jane, tags=["vip"])
    delivery = TriggerDelivery.objects.get()
    assert delivery.status == "retrying" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert timedelta(seconds=20) < delivery.due_at - timezone.now() <= timedelta(seconds=40)
    # when the retry is due
    TriggerDelivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now())
    trigger_delivery_process(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2
    # then both attempts were signed with the documented recipe, with the event and the contact's context
    for headers, body in hook.requests:
        assert callbacks.verify_signature(secret, body, headers["AgentLevel-Signature"])
        assert not callbacks.verify_signature("whsec_wrong", body, headers["AgentLevel-Signature"])
        assert not callbacks.verify_signature(secret, body + b" ", headers["AgentLevel-Signature"])
        payload = json.loads(body)
        assert payload["type"] == "contact.tag_added" and payload["id"] == f"tdl_{delivery.pk}"
        assert payload["context"]["contact"]["name"] == "Jane Doe" and payload["data"]["tag"] == "vip"
        assert payload["contact_context"]["contact"]["tags"] == ["vip"]
        assert "upcoming_appointments" in payload["contact_context"]
    assert headers["AgentLevel-Delivery"] == f"tdl_{delivery.pk}"


def test_an_old_signature_does_not_verify():
    body = b'{"a":1}'
    header = callbacks.sign("s", body, timestamp=int(time.time()) - 3600)
    assert not callbacks.verify_signature("s", body, header)
    assert not callbacks.verify_signature("s", body, "garbage")


def test_a_refused_callback_is_not_retried_and_can_be_replayed(eager_runs, agent, org, jane, receiver):
    hook = receiver([404, 200])
    trigger_create(agent=agent, name="Our runtime", event=events.CONTACT_TAG_ADDED, action="callback",
                   callback_url=hook.url)
    contact_update(contact=jane, tags=["vip"])
    delivery = TriggerDelivery.objects.get()
    assert delivery.status == "dead" and "HTTP 404" in delivery.reason and "replay" in delivery.reason
    replayed = trigger_delivery_replay(delivery=delivery)
    assert replayed.status == "delivered" and len(hook.requests) == 2


def test_callbacks_give_up_after_a_day(eager_runs, agent, org, jane, receiver):
    hook = receiver([503] * 5)
    trigger_create(agent=agent, name="Our runtime", event=events.CONTACT_TAG_ADDED, action="callback",
                   callback_url=hook.url)
    contact_update(contact=jane, tags=["vip"])
    delivery = TriggerDelivery.objects.get()
    day_ago = timezone.now() - timedelta(hours=23, minutes=59)
    TriggerDelivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now(), window_started_at=day_ago)
    trigger_delivery_process(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "dead" and "given up after a day" in delivery.reason


@pytest.mark.parametrize("fields, field", [
    ({"action": "callback", "callback_url": "http://example.com/hook"}, "callback_url"),
    ({"instruction_template": "Hi {contact.nickname}"}, "instruction_template"),
    ({"event": "contact.exploded"}, "event"),
    ({"channel": "pigeon", "event": events.MESSAGE_RECEIVED}, "channel"),
    ({"tag": "vip", "event": events.MESSAGE_RECEIVED}, "tag"),
    ({"calendar_id": 999999}, "calendar"),
])
def test_bad_triggers_are_refused_with_the_field(agent, fields, field):
    base = {"name": "T", "event": events.CONTACT_TAG_ADDED}
    with pytest.raises(ValidationError) as exc:
        trigger_create(agent=agent, **{**base, **fields})
    assert field in exc.value.message_dict
    assert not Trigger.objects.exists()


def test_contact_services_announce_created_and_each_added_tag(org):
    seen = []

    def receiver(**kw):
        seen.append((kw["event"], kw["data"].get("tag")))

    events.business_event.connect(receiver, weak=False, dispatch_uid="test-contact-events")
    try:
        person = contact_create(organization=org, first_name="Ann", email="ann@example.com", tags=["a"])
        contact_update(contact=person, tags=["a", "b", "c"])
        contact_update(contact=person, tags=["c"])
    finally:
        events.business_event.disconnect(dispatch_uid="test-contact-events")
    assert seen == [("contact.created", None), ("contact.tag_added", "b"), ("contact.tag_added", "c")]


@pytest.fixture
def owner_client(client, org):
    client.force_login(org.memberships.first().user)
    return client


def test_an_owner_adds_a_callback_trigger_and_sees_its_secret_once(owner_client, org, agent):
    response = owner_client.post(f"/orgs/{org.pk}/agents/triggers/", {
        "name": "Our runtime", "agent": agent.pk, "event": events.APPOINTMENT_NO_SHOW, "action": "callback",
        "callback_url": "https://agents.example.com/hook"})
    assert response.status_code == 200
    secret = response.context["new_trigger_secret"]
    assert secret.encode() in response.content
    trigger = Trigger.objects.for_org(org).get()
    assert trigger.callback_secret == secret and trigger.action == "callback"
    page = owner_client.get(f"/orgs/{org.pk}/agents/")
    assert secret.encode() not in page.content and b"Our runtime" in page.content
    owner_client.post(f"/orgs/{org.pk}/agents/triggers/{trigger.pk}/toggle/")
    assert Trigger.objects.get().is_active is False


def test_a_bad_trigger_is_a_form_error(owner_client, org, agent):
    response = owner_client.post(f"/orgs/{org.pk}/agents/triggers/", {
        "name": "Bad", "agent": agent.pk, "event": events.CONTACT_CREATED, "action": "callback",
        "callback_url": "http://example.com/hook"})
    assert response.status_code == 400 and b"must be https" in response.content
    assert not Trigger.objects.exists()


def test_an_owner_asks_the_agent_and_reads_the_run(owner_client, org, agent, answering):
    response = owner_client.post(f"/orgs/{org.pk}/agents/ask/", {"agent": agent.pk, "instruction": "hello"})
    run = AgentRun.objects.get()
    assert response.status_code == 302 and response.url == f"/orgs/{org.pk}/agents/runs/{run.pk}/"
    assert run.source == "owner"
    page = owner_client.get(response.url)
    assert page.status_code == 200 and b"noted" in page.content and b"succeeded" in page.content
    assert owner_client.post(f"/orgs/{org.pk}/agents/ask/", {"agent": agent.pk, "instruction": ""}).status_code == 400


def test_an_owner_sets_an_agents_approvals_and_good_employee_rules(owner_client, org, agent):
    url = f"/orgs/{org.pk}/agents/{agent.pk}/settings/"
    hours = '[{"days": [1, 2, 3, 4, 5], "open": "09:00", "close": "17:00"}]'
    response = owner_client.post(url, {"write_policy": "approve_writes", "model": "llama3.1", "burst_seconds": "8",
                                       "takeover_minutes": "30", "max_runs_per_contact_hour": "3",
                                       "off_hours": "skip", "business_hours": hours})
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.write_policy, agent.model, agent.burst_seconds, agent.takeover_minutes,
            agent.max_runs_per_contact_hour, agent.off_hours) == ("approve_writes", "llama3.1", 8, 30, 3, "skip")
    assert agent.business_hours == [{"days": [1, 2, 3, 4, 5], "open": "09:00", "close": "17:00"}]
    bad = owner_client.post(url, {"write_policy": "approve_writes", "burst_seconds": "-1",
                                  "business_hours": '[{"days": [9], "open": "9", "close": "x"}]'})
    assert bad.status_code == 400 and b"burst_seconds" in bad.content and b"business_hours" in bad.content
    agent.refresh_from_db()
    assert agent.burst_seconds == 8
