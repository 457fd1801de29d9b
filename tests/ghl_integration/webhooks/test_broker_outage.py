"""A broker outage while GHL delivers webhooks: the endpoint still answers 200 at once, stores the event and
logs one line per failed drain request (no traceback); the requeue sweep drains it later."""
import json
import logging
import time

import pytest

from ghl_integration.models import WebhookEvent
from tests.broker_outage import broker_down

from .conftest import WEBHOOK_URL, compact, fresh, load_example, signed_headers

pytestmark = pytest.mark.django_db


def test_a_webhook_during_a_broker_outage_is_accepted_fast_with_one_log_line(
        client, django_capture_on_commit_callbacks, caplog):
    caplog.set_level(logging.INFO)
    body = compact(fresh(load_example("ContactCreate.json")))
    with broker_down():
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(WEBHOOK_URL, data=body, content_type="application/json", **signed_headers(body))
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.content
    assert elapsed < 0.3, f"the delivery paid {elapsed:.2f} s of broker retries"
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].exc_info is None and problems[0].error
    assert json.loads(WebhookEvent.objects.get().body)["webhookId"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED
