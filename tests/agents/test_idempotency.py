"""Idempotency keys under concurrency and crashes: two calls at once with one key do the work once (the same
input gets the first answer, another input a `conflict`), and a key whose first call died is not stuck."""
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import IdempotencyRecord, ToolCall
from agents.services import agent_create
from agents.tools.dispatch import tool_call
from agents.tools.registry import Tool, registry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_write(org):
    """A write tool that takes half a second and counts how often it really ran."""
    runs = []

    def fn(ctx, *, n: int):
        runs.append(n)
        time.sleep(0.5)
        return {"status": "done", "n": n, "run": len(runs)}

    registry.register(Tool(name="test_slow_write", family="contacts", description="probe", writes=True,
                           input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
                           output_schema={"type": "object"}, fn=fn))
    yield agent_create(organization=org, name="Twice"), runs
    registry.unregister("test_slow_write")


def call_at_once(agent, *arguments_list, stagger: float = 0.1) -> list[dict]:
    answers: list = [None] * len(arguments_list)

    def one(i, arguments):
        try:
            answers[i] = tool_call(agent=agent, tool_name="test_slow_write", arguments=arguments, surface="rest")
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(arguments_list)]
    for thread in threads:
        thread.start()
        time.sleep(stagger)
    for thread in threads:
        thread.join(30)
    return answers


def test_the_same_call_twice_at_once_does_the_work_once_and_both_get_its_answer(slow_write):
    agent, runs = slow_write
    first, second = call_at_once(agent, {"n": 1, "idempotency_key": "k"}, {"n": 1, "idempotency_key": "k"})
    assert first == second == {"ok": True, "result": {"status": "done", "n": 1, "run": 1}}
    assert runs == [1]
    assert sorted(ToolCall.objects.values_list("outcome", flat=True)) == ["done", "replayed"]


def test_another_input_with_the_key_of_a_running_call_is_a_conflict(slow_write):
    agent, runs = slow_write
    first, second = call_at_once(agent, {"n": 1, "idempotency_key": "k"}, {"n": 2, "idempotency_key": "k"})
    assert first["ok"] and first["result"]["n"] == 1
    assert second["ok"] is False and second["error"]["code"] == "conflict"
    assert second["error"]["field"] == "idempotency_key"
    assert runs == [1]


def test_a_key_whose_first_call_died_without_answering_is_taken_over(org, slow_write):
    agent, runs = slow_write
    # given: the claim of a call whose worker was killed long ago, before it could answer
    IdempotencyRecord.objects.create(organization=org, agent=agent, key="k", tool="test_slow_write",
                                     request_hash=_hash({"n": 1}), created_at=timezone.now() - timedelta(hours=1))
    # when: the agent retries with the same key and input
    answer = tool_call(agent=agent, tool_name="test_slow_write", arguments={"n": 1, "idempotency_key": "k"},
                       surface="rest")
    # then: the work is done once and its answer kept for the next retry
    assert answer == {"ok": True, "result": {"status": "done", "n": 1, "run": 1}}
    again = tool_call(agent=agent, tool_name="test_slow_write", arguments={"n": 1, "idempotency_key": "k"},
                      surface="rest")
    assert again == answer and runs == [1]


def _hash(arguments):
    from agents.tools.dispatch import request_hash

    return request_hash(arguments)
