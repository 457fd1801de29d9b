"""The runner against a scripted model over HTTP (the real openai client), the sandbox and the dispatcher."""
import json

import pytest

from agents.models import AgentRun, ToolCall
from agents.runner import loop, model_client
from agents.runner.services import agent_run_start
from crm.models import Contact
from crm.services.contacts import contact_create
from tests.agents.conftest import ghl_writes
from tests.agents.fake_model import call, calls, raw, say

pytestmark = pytest.mark.django_db(transaction=True)


def tag_rule(fake_model):
    """“tag <name> [from <city>] as <tag>”: add_tags by name; on `ambiguous`, the candidate from that city."""
    @fake_model.rule(r"tag (?P<name>\w+ \w+)(?: from (?P<city>\w+))? as (?P<tag>\w+)")
    def tag(match, conv):
        last = conv.last("add_tags")
        if last is None:
            return call("add_tags", contact=match["name"], tags=[match["tag"]])
        if not last["ok"] and last["error"]["code"] == "ambiguous":
            pick = [c for c in last["error"]["candidates"] if c["city"] == match["city"]]
            if len(pick) == 1:
                return call("add_tags", contact=str(pick[0]["contact_id"]), tags=[match["tag"]])
            return say("Which one? " + ", ".join(f"{c['name']} ({c['city']})" for c in last["error"]["candidates"]))
        return say(f"Tagged {last['result']['contact']['name']} as {match['tag']}.")


@pytest.fixture
def two_janes(connected, org):
    portland = contact_create(organization=org, first_name="Jane", last_name="Doe", email="jane.p@example.com",
                              city="Portland")
    salem = contact_create(organization=org, first_name="Jane", last_name="Doe", email="jane.s@example.com",
                           city="Salem")
    for c in (portland, salem):
        c.refresh_from_db()
    return {"Portland": portland, "Salem": salem}


def run_now(agent, instruction):
    run = agent_run_start(agent=agent, instruction=instruction)
    return loop.agent_run_execute(run_id=run.pk)


def ghl_tags(ghl, contact):
    from crm.models import ExternalIdentity
    ext = ExternalIdentity.objects.get(object_id=contact.pk, content_type__model="contact").external_id
    return ghl.control.objects("contact", ext)["tags"]


def test_a_run_resolves_an_ambiguous_name_and_writes_to_ghl_through_the_dispatcher(fake_model, agent, two_janes, ghl):
    tag_rule(fake_model)
    ghl.control.clear_request_log()
    # when
    run = run_now(agent, "tag Jane Doe from Salem as vip")
    # then
    assert run.status == AgentRun.Status.SUCCEEDED, run.failure_reason
    assert run.reply == "Tagged Jane Doe as vip."
    assert ghl_tags(ghl, two_janes["Salem"]) == ["vip"] and ghl_tags(ghl, two_janes["Portland"]) == []
    assert len([w for w in ghl_writes(ghl) if w["path"].endswith("/tags")]) == 1
    steps = list(run.steps.order_by("index"))
    assert [s.kind for s in steps] == ["model", "tool", "model", "tool", "model"]
    assert steps[1].result["error"]["code"] == "ambiguous" and steps[3].result["ok"] is True
    assert run.model_calls == 3 and run.tool_calls == 2 and run.model == "fake-model-1"
    assert run.prompt_tokens > 0 and run.completion_tokens == 21 and run.duration_ms > 0
    audit = ToolCall.objects.for_org(agent.organization).order_by("id")
    assert [(a.surface, a.tool, a.ok) for a in audit] == [("runner", "add_tags", False), ("runner", "add_tags", True)]
    # the model saw the organization's context and only the agent's tools
    first = fake_model.requests[0]
    assert "Demo Dental" in first["messages"][0]["content"] and "Time zone:" in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} >= {"add_tags", "find_contact", "book_appointment"}


def test_the_agents_families_bound_its_tools_and_its_model_overrides(fake_model, agent, people):
    agent.enabled_families = ["contacts"]
    agent.model = "my-own-model"
    agent.save()
    fake_model.rule("hello")(lambda m, c: say("hi"))
    run = run_now(agent, "hello")
    assert run.status == "succeeded" and run.model == "my-own-model"
    body = fake_model.requests[0]
    assert body["model"] == "my-own-model"
    assert {t["function"]["name"] for t in body["tools"]} == {
        "find_contact", "get_contact_context", "create_contact", "update_contact", "add_tags", "remove_tags"}


def test_without_a_model_runs_are_refused_with_how_to_set_one(agent, settings):
    settings.AGENT_LLM_BASE_URL = ""
    settings.AGENT_LLM_MODEL = ""
    run = agent_run_start(agent=agent, instruction="tag Jane Doe as vip")
    assert run.status == AgentRun.Status.REFUSED
    assert "AGENT_LLM_BASE_URL" in run.failure_reason and "AGENT_LLM_MODEL" in run.failure_reason
    assert run.steps.count() == 0


def test_model_down_fails_the_run_with_the_reason_and_nothing_done(fake_model, agent, two_janes, ghl, monkeypatch):
    monkeypatch.setattr(model_client, "BACKOFF_BASE_S", 0.01)
    fake_model.stop()  # nothing listens on its port any more
    ghl.control.clear_request_log()
    run = run_now(agent, "tag Jane Doe from Salem as vip")
    assert run.status == AgentRun.Status.FAILED
    assert "could not be reached" in run.failure_reason and "tried 3 times" in run.failure_reason
    assert "No tool had run" in run.failure_reason
    assert ghl_writes(ghl) == [] and not ToolCall.objects.exists()


def test_a_slow_model_times_out_per_call(fake_model, agent, monkeypatch):
    monkeypatch.setattr(model_client, "CALL_TIMEOUT_S", 0.3)
    monkeypatch.setattr(model_client, "MAX_ATTEMPTS", 2)
    monkeypatch.setattr(model_client, "BACKOFF_BASE_S", 0.01)
    fake_model.delay_s = 1.0
    fake_model.rule("hello")(lambda m, c: say("hi"))
    run = run_now(agent, "hello")
    assert run.status == AgentRun.Status.FAILED
    assert "did not answer within 0 s" not in run.failure_reason  # the timeout is said in seconds it had
    assert "did not answer within" in run.failure_reason and "tried 2 times" in run.failure_reason
    assert run.duration_ms < 2500


def test_the_whole_run_is_bounded_in_time(fake_model, agent, monkeypatch):
    monkeypatch.setattr(loop, "RUN_TIMEOUT_S", 0.6)
    monkeypatch.setattr(model_client, "BACKOFF_BASE_S", 0.01)
    fake_model.delay_s = 0.25
    fake_model.rule("look")(lambda m, c: call("find_contact", query="jane"))
    run = run_now(agent, "look for jane forever")
    assert run.status == AgentRun.Status.FAILED
    assert "took longer than" in run.failure_reason or "did not answer" in run.failure_reason
    assert run.duration_ms < 1500


def test_429_and_5xx_are_retried(fake_model, agent, monkeypatch):
    monkeypatch.setattr(model_client, "BACKOFF_BASE_S", 0.01)
    fake_model.fail_next(429)
    fake_model.fail_next(503)
    fake_model.rule("hello")(lambda m, c: say("hi"))
    run = run_now(agent, "hello")
    assert run.status == AgentRun.Status.SUCCEEDED and run.reply == "hi"
    assert len(fake_model.requests) == 3


def test_a_4xx_from_the_model_is_not_retried(fake_model, agent):
    fake_model.fail_next(400)
    run = run_now(agent, "hello")
    assert run.status == AgentRun.Status.FAILED and "HTTP 400" in run.failure_reason
    assert "scripted failure 400" in run.failure_reason and len(fake_model.requests) == 1


def test_a_malformed_tool_call_fails_the_run_and_runs_none_of_its_turn(fake_model, agent, two_janes, ghl):
    fake_model.rule("tag")(lambda m, c: raw({"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "add_tags", "arguments": json.dumps(
            {"contact": "jane.s@example.com", "tags": ["vip"]})}},
        {"id": "b", "type": "function", "function": {"name": "add_tags", "arguments": '{"contact": "Jane'}},
    ]}))
    ghl.control.clear_request_log()
    run = run_now(agent, "tag both")
    assert run.status == AgentRun.Status.FAILED
    assert "not valid JSON" in run.failure_reason and "no tool of that turn was run" in run.failure_reason
    assert Contact.objects.get(pk=two_janes["Salem"].pk).tags == []
    assert ghl_writes(ghl) == [] and not ToolCall.objects.exists()


def test_an_unknown_tool_fails_the_run(fake_model, agent):
    fake_model.rule("x")(lambda m, c: call("delete_everything"))
    run = run_now(agent, "x")
    assert run.status == AgentRun.Status.FAILED and "'delete_everything'" in run.failure_reason


def test_an_input_that_does_not_fit_runs_nothing_of_the_turn_and_the_model_can_fix_it(fake_model, agent, two_janes):
    @fake_model.rule("tag")
    def script(match, conv):
        if conv.turn == 0:
            return calls(("add_tags", {"contact": "jane.s@example.com", "tags": ["vip"]}),
                         ("add_tags", {"contact": "jane.p@example.com", "tag": "vip"}))
        if conv.turn == 1:
            return calls(("add_tags", {"contact": "jane.s@example.com", "tags": ["vip"]}),
                         ("add_tags", {"contact": "jane.p@example.com", "tags": ["vip"]}))
        return say("done")

    run = run_now(agent, "tag both")
    assert run.status == "succeeded"
    first_turn = [s.result for s in run.steps.filter(kind="tool").order_by("index")[:2]]
    assert all(not r["ok"] and r["error"]["code"] == "invalid" for r in first_turn)
    assert "none of them ran" in first_turn[0]["error"]["message"]
    assert Contact.objects.get(pk=two_janes["Salem"].pk).tags == ["vip"]
    assert Contact.objects.get(pk=two_janes["Portland"].pk).tags == ["vip"]


def test_steps_are_bounded(fake_model, agent, monkeypatch):
    monkeypatch.setattr(loop, "MAX_STEPS", 3)
    fake_model.rule("look")(lambda m, c: call("find_contact", query="jane"))
    run = run_now(agent, "look forever")
    assert run.status == AgentRun.Status.FAILED and "within 3 steps" in run.failure_reason
    assert run.model_calls == 3 and run.tool_calls == 3


def test_a_run_is_executed_once(fake_model, agent):
    fake_model.rule("hello")(lambda m, c: say("hi"))
    run = agent_run_start(agent=agent, instruction="hello")
    loop.agent_run_execute(run_id=run.pk)
    loop.agent_run_execute(run_id=run.pk)
    assert len(fake_model.requests) == 1


def test_a_run_whose_worker_died_is_closed_as_failed_saying_what_had_run_and_is_not_run_again(fake_model, agent):
    from datetime import timedelta

    from django.utils import timezone

    from agents.models import AgentRunStep
    from agents.runner.services import agent_runs_close_abandoned

    # given: two runs a dead worker had claimed (one had tagged someone), and one still within its time bound
    def claimed(minutes_ago):
        run = agent_run_start(agent=agent, instruction="tag Jane Doe as vip")
        AgentRun.objects.filter(pk=run.pk).update(status=AgentRun.Status.RUNNING,
                                                  started_at=timezone.now() - timedelta(minutes=minutes_ago))
        return run
    dead, dead_after_a_write, alive = claimed(30), claimed(30), claimed(1)
    AgentRunStep.objects.create(organization_id=agent.organization_id, run=dead_after_a_write, index=0,
                                kind=AgentRunStep.Kind.TOOL, tool="add_tags", ok=True)
    # when
    closed = agent_runs_close_abandoned()
    # then
    assert closed == 2
    for run in (dead, dead_after_a_write, alive):
        run.refresh_from_db()
    assert dead.status == dead_after_a_write.status == AgentRun.Status.FAILED
    assert "stopped before it finished" in dead.failure_reason and "No tool had run" in dead.failure_reason
    assert "Tools that had already run: add_tags" in dead_after_a_write.failure_reason
    assert dead.finished_at is not None
    assert alive.status == AgentRun.Status.RUNNING
    # and a late redelivery of the dead run's message does not run it again
    assert loop.agent_run_execute(run_id=dead.pk).status == AgentRun.Status.FAILED
    assert fake_model.requests == []


def test_a_runs_steps_keep_no_secret_the_model_wrote_or_sent_a_tool(fake_model, agent, people):
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJsb2NhdGlvbklkIjoiMSJ9.c2lnbmF0dXJlLXBhcnQ"

    @fake_model.rule(r"find the token")
    def find(match, conv):
        if conv.last("find_contact") is None:
            return call("find_contact", query=f"Bearer {secret}")
        return say(f"Nobody has {secret}.")

    run = run_now(agent, "find the token")
    assert run.status == AgentRun.Status.SUCCEEDED, run.failure_reason
    steps = list(run.steps.values("kind", "content", "requested_calls", "arguments", "result"))
    assert [s["kind"] for s in steps] == ["model", "tool", "model"]
    assert secret not in json.dumps(steps) and "[redacted]" in json.dumps(steps)
    assert secret not in str(ToolCall.objects.get(tool="find_contact").input)
