"""Fixtures for the runner: the scripted fake model over HTTP, settings pointing at it, runs executed eagerly."""
import pytest

from agents.runner import model_client
from config.celery import app as celery_app
from tests.agents.conftest import *  # noqa: F401,F403  (org, agent, key, connected, ghl, call, people …)
from tests.agents.fake_model import FakeModel


@pytest.fixture
def fake_model(settings):
    model = FakeModel().start()
    settings.AGENT_LLM_BASE_URL = model.base_url
    settings.AGENT_LLM_MODEL = "fake-model-1"
    settings.AGENT_LLM_API_KEY = "sk-test-not-a-secret"
    model_client._clients.clear()
    yield model
    model.stop()
    model_client._clients.clear()


@pytest.fixture
def eager_runs():
    """Queued runs execute at once in this process (the worker's job; the end-to-end tests use a real one)."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = saved
