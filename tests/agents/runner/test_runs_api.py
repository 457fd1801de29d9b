"""POST /api/agent/runs/ and GET /api/agent/runs/<id>/ (keys, errors, the OpenAPI schema)."""
import pytest

from agents.models import AgentRun
from agents.services import agent_create, api_key_create
from tests.agents.fake_model import call, say

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, key, body=None, **kw):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    response = client.post("/api/agent/runs/", data=body or {}, content_type="application/json", **headers, **kw)
    return response.status_code, response.json()


def get(client, key, run_id):
    response = client.get(f"/api/agent/runs/{run_id}/", HTTP_AUTHORIZATION=f"Bearer {key}")
    return response.status_code, response.json()


def test_start_and_read_a_run(client, fake_model, eager_runs, key, people):
    @fake_model.rule(r"who is (?P<name>.+)\?")
    def who(match, conv):
        last = conv.last("get_contact_context")
        if last is None:
            return call("get_contact_context", contact=match["name"])
        return say(f"{last['result']['contact']['name']} lives in {last['result']['contact']['city']}.")

    status, body = post(client, key, {"instruction": "who is Jane Smith?"})
    assert status in (200, 202) and body["ok"], body  # 200 here: the run finished (eagerly) before the answer
    run_id = body["result"]["id"]
    status, body = get(client, key, run_id)
    assert status == 200, body
    run = body["result"]
    assert run["status"] == "succeeded" and run["reply"] == "Jane Smith lives in Salem."
    assert [s["kind"] for s in run["steps"]] == ["model", "tool", "model"]
    tool_step = run["steps"][1]
    assert tool_step["tool"] == "get_contact_context" and tool_step["arguments"] == {"contact": "Jane Smith"}
    assert tool_step["result"]["ok"] is True
    assert run["tokens"]["prompt"] > 0 and run["model"] == "fake-model-1" and run["source"] == "api"


def test_wait_answers_the_finished_run(client, fake_model, eager_runs, key):
    fake_model.rule("hello")(lambda m, c: say("hi"))
    status, body = post(client, key, {"instruction": "hello", "wait": 5})
    assert status == 200 and body["result"]["status"] == "succeeded" and body["result"]["reply"] == "hi"


@pytest.mark.parametrize("body, field", [({"instruction": "  "}, "instruction"), ({}, "instruction"),
                                         ({"instruction": "x" * 4001}, "instruction"),
                                         ({"instruction": "hi", "wait": 999}, "wait")])
def test_bad_input_is_a_400_naming_the_field(client, fake_model, key, body, field):
    status, answer = post(client, key, body)
    assert status == 400 and answer["error"]["code"] == "invalid" and answer["error"]["field"] == field, answer
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize("body, content_type, message", [
    ("{not json", "application/json", "not valid JSON"),
    ("instruction=hi", "text/plain", "must be JSON, not text/plain"),
])
def test_a_body_that_cannot_be_read_is_a_400_in_the_envelope(client, fake_model, key, body, content_type, message):
    response = client.post("/api/agent/runs/", data=body, content_type=content_type,
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = response.json()
    assert response.status_code == 400 and answer["ok"] is False and answer["error"]["code"] == "invalid", answer
    assert message in answer["error"]["message"] and answer["error"]["hint"]
    assert not AgentRun.objects.exists()


def test_a_body_over_the_limit_is_a_413_in_the_envelope(client, fake_model, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = '{"instruction": "' + "x" * 10_000 + '"}'
    response = client.post("/api/agent/runs/", data=body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = response.json()
    assert response.status_code == 413 and answer["error"]["code"] == "invalid", answer
    assert f"{len(body)} bytes" in answer["error"]["message"] and "10000" in answer["error"]["message"]
    assert "multipart/form-data" in answer["error"]["hint"]
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize("method, path, allowed", [("get", "/api/agent/runs/", ["POST", "OPTIONS"]),
                                                   ("get", "/api/agent/tools/find_contact/", ["POST", "OPTIONS"]),
                                                   ("put", "/api/agent/tools/", ["GET", "HEAD", "OPTIONS"])])
def test_a_method_the_endpoint_does_not_take_is_a_405_naming_those_it_does(client, key, method, path, allowed):
    response = getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = response.json()
    assert response.status_code == 405 and answer["ok"] is False, answer
    assert answer["error"]["code"] == "method_not_allowed" and answer["error"]["allowed"] == allowed
    assert response["Allow"] == ", ".join(allowed)


def test_keys_are_required_and_runs_are_the_agents_own(client, fake_model, eager_runs, org, key):
    fake_model.rule("hello")(lambda m, c: say("hi"))
    assert post(client, None, {"instruction": "hello"})[0] == 401
    assert post(client, "al_deadbeef_nope", {"instruction": "hello"})[0] == 401
    run_id = post(client, key, {"instruction": "hello"})[1]["result"]["id"]
    other = api_key_create(agent=agent_create(organization=org, name="Other"))[1]
    status, body = get(client, other, run_id)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert client.get(f"/api/agent/runs/{run_id}/").status_code == 401


def test_without_a_model_the_run_is_refused_and_the_tools_still_work(client, settings, key, call, people):
    settings.AGENT_LLM_BASE_URL = ""
    status, body = post(client, key, {"instruction": "who is Jane Smith?"})
    assert status == 409 and body["error"]["code"] == "not_configured"
    assert "AGENT_LLM_BASE_URL" in body["error"]["message"]
    assert AgentRun.objects.get(pk=body["error"]["run_id"]).status == "refused"
    status, body = call(key, "get_contact_context", {"contact": "Jane Smith"})
    assert status == 200 and body["ok"]


def test_the_runs_are_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    start = schema["paths"]["/api/agent/runs/"]["post"]
    assert start["operationId"] == "agent_run_start" and start["security"] == [{"AgentKey": []}]
    ref = start["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"instruction", "audio", "wait"}
    assert {"400", "401", "409", "413"} <= set(start["responses"])
    assert schema["paths"]["/api/agent/runs/{run_id}/"]["get"]["operationId"] == "agent_run_get"
