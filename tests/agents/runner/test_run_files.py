"""A file the model sends a tool (send_message's attachments) reaches the tool whole; the run's steps and the audit
keep its name, content type, size and SHA-256, never its bytes."""
import json

import pytest

from agents.models import AgentRun, ToolCall
from agents.runner import loop
from agents.runner.services import agent_run_start
from tests.agents.fake_model import call as model_call
from tests.agents.fake_model import raw, say
from tests.agents.test_audit_files import PDF, PDF_B64, SUMMARY, sent_files  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_runs_steps_keep_a_files_summary_not_its_bytes(fake_model, ghl, maria, agent, sent_files):  # noqa: F811
    @fake_model.rule(r"send the invoice")
    def send(match, conv):
        if conv.last("send_message") is None:
            return model_call("send_message", contact="Maria Lopez", channel="email", text="Your invoice",
                              subject="Invoice", attachments=[{"name": "invoice.pdf",
                                                               "content_type": "application/pdf",
                                                               "content_base64": PDF_B64}])
        return say("Sent.")

    run = loop.agent_run_execute(run_id=agent_run_start(agent=agent, instruction="send the invoice").pk)
    assert run.status == AgentRun.Status.SUCCEEDED, run.failure_reason
    assert [(f.name, f.data) for f in sent_files] == [("invoice.pdf", PDF)]
    steps = list(run.steps.order_by("index").values("kind", "content", "requested_calls", "arguments", "result"))
    assert [s["kind"] for s in steps] == ["model", "tool", "model"]
    assert PDF_B64[:40] not in json.dumps(steps)
    assert steps[1]["arguments"]["attachments"] == [SUMMARY]
    assert json.loads(steps[0]["requested_calls"][0]["arguments"])["attachments"] == [SUMMARY]
    assert ToolCall.objects.get(tool="send_message").input["attachments"] == [SUMMARY]


def test_arguments_that_are_not_json_lose_a_files_bytes_in_the_step(fake_model, agent):
    fake_model.rule("send it")(lambda m, c: raw({"role": "assistant", "content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {
            "name": "send_message", "arguments": '{"attachments": [{"content_base64": "' + PDF_B64}}]}))
    run = loop.agent_run_execute(run_id=agent_run_start(agent=agent, instruction="send it").pk)
    assert run.status == AgentRun.Status.FAILED and "not valid JSON" in run.failure_reason
    [step] = run.steps.all()
    arguments = step.requested_calls[0]["arguments"]
    assert PDF_B64[:40] not in arguments and "characters of base64: not kept" in arguments
