"""The issue's promises end to end: the scripted model over HTTP (real openai client), the runner, the tools, the
sandbox (GHL) and its webhooks fed to our inbox. Runs execute in-process (eager); see bench/agent_runner.py for
the same flow with a real worker."""
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import Agent, AgentRun, PendingAction, TriggerDelivery
from agents.runner.loop import agent_run_execute
from agents.runner.services import agent_run_start
from agents.triggers.fire import trigger_deliveries_sweep
from agents.triggers.services import trigger_create
from crm import events
from ghl_integration.calendars.mirror import calendars_refresh
from ghl_integration.opportunities.sync import opportunities_pull
from ghl_sandbox import constants as sbx
from tests.agents.conftest import LOCATION_ID, person
from tests.agents.fake_model import call, say
from tests.ghl_integration.contacts.conftest import deliver, receiver  # noqa: F401  (the webhook receiver fixture)
from tests.ghl_integration.conversations.conftest import recorded, signed

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The inbox's bell ringer drains in its own thread while the test delivers: SQLite's in-memory test database
    # answers concurrent writers "table is locked" at once.
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"),
]
NY = ZoneInfo("America/New_York")


def sms_in_ghl(ghl, ghl_contact_id, direction="outbound"):
    return [m for m in ghl.control.objects("message", location_id=LOCATION_ID)
            if m["contactId"] == ghl_contact_id and m["direction"] == direction and m["messageType"] == "TYPE_SMS"]


def run(agent, instruction):
    return agent_run_execute(run_id=agent_run_start(agent=agent, instruction=instruction).pk)


# -- "text Jane Doe that her order is ready" ------------------------------------------------------------------------
def text_rule(fake_model):
    @fake_model.rule(r"text (?P<name>\w+ \w+) that (?P<what>.+)")
    def text(match, conv):
        first, what = match["name"].split()[0], match["what"]
        what = re.sub(r"\bher\b", "your", what)
        last = conv.last("send_message")
        if last is None:  # a hurried model: the first name only
            return call("send_message", contact=first, text=f"Hi {first}, {what}.")
        if not last["ok"] and last["error"]["code"] == "ambiguous":
            [pick] = [c for c in last["error"]["candidates"] if c["name"] == match["name"]]
            return call("send_message", contact=str(pick["contact_id"]), text=f"Hi {first}, {what}.")
        return say(f"Sent ({last['result']['status'] if last['ok'] else last['error']['code']}).")


@pytest.fixture
def janes(ghl, org, connected):
    return {"doe": person(ghl, org, connected, "Jane", "Doe", "+15035550101"),
            "smith": person(ghl, org, connected, "Jane", "Smith", "+15035550102")}


def test_text_jane_doe_sends_one_sms_to_the_right_jane(fake_model, agent, janes, ghl):
    text_rule(fake_model)
    done = run(agent, "text Jane Doe that her order is ready")
    assert done.status == "succeeded" and done.reply == "Sent (delivered).", done.failure_reason
    [sms] = sms_in_ghl(ghl, janes["doe"][1])
    assert sms["body"] == "Hi Jane, your order is ready."
    assert sms_in_ghl(ghl, janes["smith"][1]) == []
    first_try = done.steps.filter(kind="tool").order_by("index").first()
    assert first_try.result["error"]["code"] == "ambiguous"


def test_in_approval_mode_nothing_is_sent_until_approved_then_once(fake_model, agent, janes, ghl, org):
    agent.write_policy = Agent.WritePolicy.APPROVE_WRITES
    agent.save()
    text_rule(fake_model)
    done = run(agent, "text Jane Doe that her order is ready")
    answered = [st.result for st in done.steps.filter(kind="tool", ok=True)]
    assert done.status == "succeeded" and answered[-1]["result"]["status"] == "pending_approval"
    action = PendingAction.objects.get()
    assert action.tool == "send_message" and sms_in_ghl(ghl, janes["doe"][1]) == []
    from agents.approvals.services import pending_action_approve, pending_action_reject
    user = org.memberships.first().user
    pending_action_approve(action=action, user=user)
    assert len(sms_in_ghl(ghl, janes["doe"][1])) == 1
    # a second instruction, rejected: nothing more reaches GHL
    run(agent, "text Jane Doe that her refund is on its way")
    second = PendingAction.objects.get(status="pending")
    pending_action_reject(action=second, user=user)
    assert len(sms_in_ghl(ghl, janes["doe"][1])) == 1


# -- "move the Acme deal to Proposal Sent", from text and from a recording ---------------------------------------
@pytest.fixture
def acme(ghl, connected):
    contact = ghl.control.objects("contact", location_id=LOCATION_ID)[0]
    stages = {s["name"]: s["id"] for s in ghl.control.objects("pipeline", sbx.DEMO_PIPELINE_ID)["stages"]}
    deal = ghl.control.change("opportunity.create", locationId=LOCATION_ID, pipelineId=sbx.DEMO_PIPELINE_ID,
                              name="Acme deal", status="open", contactId=contact["id"],
                              pipelineStageId=stages["New Lead"], monetaryValue=12500)["opportunity"]
    opportunities_pull(connection=connected)
    return deal, stages


def move_rule(fake_model):
    @fake_model.rule(r"move the (?P<deal>.+?) to (?P<stage>[^.]+)")
    def move(match, conv):
        last = conv.last("move_opportunity")
        if last is None:
            return call("move_opportunity", opportunity=match["deal"], stage=match["stage"])
        return say(f"Moved: {last['result']['status']}" if last["ok"] else f"Failed: {last['error']['code']}")


@pytest.mark.parametrize("how", ["text", "recording"])
def test_move_the_acme_deal_to_proposal_sent(fake_model, eager_runs, settings, client, key, acme, ghl, how):
    deal, stages = acme
    move_rule(fake_model)
    if how == "text":
        response = client.post("/api/agent/runs/", {"instruction": "move the Acme deal to Proposal Sent"},
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    else:
        from tests.agents.fake_transcriber import AUDIO
        settings.AGENT_STT_BASE_URL, settings.AGENT_STT_MODEL = fake_model.base_url, "whisper-fake"
        with open(AUDIO / "move_acme_to_proposal_sent.wav", "rb") as recording:
            response = client.post("/api/agent/runs/", {"audio": recording}, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert "Acme deal" in fake_model.transcription_requests[0]["prompt"]
    assert response.status_code in (200, 202), response.json()
    done = AgentRun.objects.get(pk=response.json()["result"]["id"])
    assert done.status == "succeeded" and done.reply == "Moved: confirmed", done.failure_reason
    assert ghl.control.objects("opportunity", deal["id"])["pipelineStageId"] == stages["Proposal Sent"]


# -- "book Maria for a cleaning next Tuesday afternoon" -----------------------------------------------------------
@pytest.fixture
def cleanings(ghl, connected):
    hours = [{"daysOfTheWeek": [0, 1, 2, 3, 4, 5, 6], "hours": [{"openHour": 9, "openMinute": 0, "closeHour": 17,
                                                                   "closeMinute": 0}]}]
    remote = ghl.control.change("calendar.create", locationId=LOCATION_ID, name="Cleanings", openHours=hours,
                                allowBookingFor=0)["calendar"]
    calendars_refresh(connection=connected)
    return remote


def book_rule(fake_model):
    @fake_model.rule(r"book (?P<who>\w+) for a (?P<what>\w+) (?P<when>.+)")
    def book(match, conv):
        slots, booked = conv.last("get_free_slots"), conv.last("book_appointment")
        if slots is None:
            return call("get_free_slots", calendar=match["what"], when=match["when"],
                        start_date=timezone.now().date().isoformat())
        if booked is None:
            first = next(s for day in slots["result"]["days"].values() for s in day)
            return call("book_appointment", contact=match["who"], calendar=match["what"], start_time=first)
        return say(f"Booked {booked['result']['appointment']['starts_at']}" if booked["ok"] else
                   f"Failed {booked['error']['code']}")


def test_book_maria_for_a_cleaning_next_tuesday_afternoon(fake_model, agent, cleanings, ghl, org, connected):
    person(ghl, org, connected, "Maria", "Lopez", "+15035550177")
    book_rule(fake_model)
    done = run(agent, "book Maria for a cleaning next Tuesday afternoon")
    assert done.status == "succeeded" and done.reply.startswith("Booked"), (done.failure_reason, done.reply)
    [appointment] = [a for a in ghl.control.objects("appointment", location_id=LOCATION_ID)
                     if a["calendarId"] == cleanings["id"]]
    starts = datetime.fromisoformat(appointment["startTime"]).astimezone(NY)
    today = timezone.now().astimezone(NY).date()
    assert starts.weekday() == 1 and today < starts.date() <= today + timedelta(days=14)
    assert 12 <= starts.hour < 17


# -- an inbound SMS fires the trigger; the agent answers once with slots; it stands down for a person -------------
def answer_rule(fake_model):
    @fake_model.rule(r"(?s)wrote to us on (?P<channel>\w+):\n(?P<body>.*?)\n\nAnswer them once.*contact (?P<cid>\d+)")
    def answer(match, conv):
        slots, sent = conv.last("get_free_slots"), conv.last("send_message")
        if slots is None:
            day = re.search(r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)", match["body"], re.I)
            return call("get_free_slots", calendar="Cleanings", when=day.group(1) if day else "tomorrow",
                        start_date=timezone.now().date().isoformat())
        if sent is None:
            times = [s for day in slots["result"]["days"].values() for s in day][:3]
            offer = ", ".join(datetime.fromisoformat(t).strftime("%a %H:%M") for t in times)
            return call("send_message", contact=match["cid"], channel=match["channel"],
                        text=f"Yes! We have {offer}. Which suits you?")
        return say("Answered.")


@pytest.fixture
def front_desk(fake_model, eager_runs, agent, cleanings):
    agent.burst_seconds = 1
    agent.save()
    trigger_create(agent=agent, name="Answer texts", event=events.MESSAGE_RECEIVED, channel="sms")
    answer_rule(fake_model)
    return agent


def settle(seconds=1.1):
    time.sleep(seconds)
    trigger_deliveries_sweep(grace=timedelta(0))


def test_an_inbound_sms_is_answered_once_with_slots_even_delivered_twice(front_desk, ghl, org, connected, receiver):  # noqa: F811
    ana, ana_id = person(ghl, org, connected, "Ana", "Reyes", "+15035550166")
    recorded(ghl, receiver)
    ghl.control.inbound_message(ana_id, "can I come in Thursday?")
    [item] = recorded(ghl, receiver, "InboundMessage")
    deliver([item, item, signed({**item["json"]})])  # the same webhook twice, and once more under another id
    settle()
    [reply] = sms_in_ghl(ghl, ana_id)
    assert reply["body"].startswith("Yes! We have Thu ") and reply["body"].count(":") == 3
    assert TriggerDelivery.objects.get().status == "ran" and AgentRun.objects.get().status == "succeeded"
    # the agent's own reply comes back as GHL's OutboundMessage: recognised, it triggers nothing
    deliver(recorded(ghl, receiver, "OutboundMessage"))
    settle()
    assert TriggerDelivery.objects.count() == 1 and len(sms_in_ghl(ghl, ana_id)) == 1
    # a person replies from GHL; Ana's next text gets no answer from the agent
    ghl.control.change("message.outbound", contactId=ana_id, type="SMS", message="Hi Ana, Dr. Lee here",
                       userId="SbxDemoUser000000001")
    deliver(recorded(ghl, receiver, "OutboundMessage"))
    ghl.control.inbound_message(ana_id, "great, thanks Dr. Lee")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    settle()
    last = TriggerDelivery.objects.order_by("id").last()
    assert last.status == "skipped" and "stands down" in last.reason
    assert [m["body"] for m in sms_in_ghl(ghl, ana_id)][-1] == "Hi Ana, Dr. Lee here"
    assert AgentRun.objects.count() == 1


def test_three_messages_in_a_row_get_one_answer(front_desk, ghl, org, connected, receiver):  # noqa: F811
    ana, ana_id = person(ghl, org, connected, "Ana", "Reyes", "+15035550166")
    recorded(ghl, receiver)
    for text in ("hi!", "can I come in", "Thursday?"):
        ghl.control.inbound_message(ana_id, text)
    deliver(recorded(ghl, receiver, "InboundMessage"))
    settle()
    [reply] = sms_in_ghl(ghl, ana_id)
    assert reply["body"].startswith("Yes! We have Thu ")
    [done] = AgentRun.objects.all()
    assert "hi!\ncan I come in\nThursday?" in done.instruction


def test_a_slow_model_fails_the_triggered_run_and_sends_nothing(front_desk, fake_model, ghl, org, connected,
                                                                 receiver, monkeypatch):  # noqa: F811
    from agents.runner import model_client
    monkeypatch.setattr(model_client, "CALL_TIMEOUT_S", 0.3)
    monkeypatch.setattr(model_client, "MAX_ATTEMPTS", 1)
    fake_model.delay_s = 1.0
    ana, ana_id = person(ghl, org, connected, "Ana", "Reyes", "+15035550166")
    recorded(ghl, receiver)
    ghl.control.inbound_message(ana_id, "can I come in Thursday?")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    settle()
    done = AgentRun.objects.get()
    assert done.status == "failed" and "did not answer within" in done.failure_reason
    assert sms_in_ghl(ghl, ana_id) == []
