"""The trigger flow with a real Celery worker process: an inbound SMS in GHL → our inbox → the worker runs the
trigger delivery and the agent's run (the scripted model over HTTP) → one reply visible in GHL."""
import os
import time

import pytest
from django.db import connection

from agents.models import AgentRun, TriggerDelivery
from agents.triggers.services import trigger_create
from config.celery import app as celery_app
from crm import events
from tests.celery_worker import celery_worker_process
from tests.ghl_integration.contacts.conftest import deliver, receiver  # noqa: F401
from tests.ghl_integration.conversations.conftest import recorded

from .test_end_to_end import answer_rule, cleanings, person, sms_in_ghl  # noqa: F401  (cleanings: a fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker process needs a shared database"),
]


@pytest.fixture
def worker(fake_model, ghl, settings):
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    database_url = f"postgres://{db['USER'] or 'postgres'}@{host}/{db['NAME']}"
    queue = f"test-runner-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="config.settings.test",
               BENCH_CELERY_QUEUE=queue, GHL_API_BASE_URL=ghl.base_url, AGENT_LLM_BASE_URL=fake_model.base_url,
               AGENT_LLM_MODEL="fake-model-1", REDIS_URL=settings.REDIS_URL or "")
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # what this test publishes goes to its own worker
    try:
        with celery_worker_process(env=env, queue=queue, app="bench.agent_runner_celery"):
            yield queue
    finally:
        celery_app.conf.task_default_queue = saved


def test_a_real_worker_answers_an_inbound_sms_once(fake_model, worker, agent, org, connected, ghl,
                                                   cleanings, receiver):  # noqa: F811
    agent.burst_seconds = 1
    agent.save()
    trigger_create(agent=agent, name="Answer texts", event=events.MESSAGE_RECEIVED, channel="sms")
    answer_rule(fake_model)
    ana, ana_id = person(ghl, org, connected, "Ana", "Reyes", "+15035550166")
    recorded(ghl, receiver)
    # when: two texts in a row, one delivered twice
    ghl.control.inbound_message(ana_id, "hi")
    ghl.control.inbound_message(ana_id, "can I come in Thursday?")
    items = recorded(ghl, receiver, "InboundMessage")
    deliver(items + items[-1:])
    # then: the worker answers once, with slots
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not sms_in_ghl(ghl, ana_id):
        time.sleep(0.1)
    time.sleep(1.5)  # a second answer would have arrived by now
    [reply] = sms_in_ghl(ghl, ana_id)
    assert reply["body"].startswith("Yes! We have Thu ")
    assert TriggerDelivery.objects.get().status == "ran"
    [run] = AgentRun.objects.all()
    assert run.status == "succeeded" and "hi\ncan I come in Thursday?" in run.instruction
