"""One local change → exactly one push, and the webhook GHL sends back for it is not re-applied or pushed back.

The sandbox delivers its webhooks to the product's real endpoint (`live_server`); the inbox processes them
eagerly with the inbound half's Contact* handlers, and the push worker runs right after each commit (the
outbox notifier), as in production.
"""
import time

import pytest
from celery._state import _set_task_join_will_block
from django.db import connection  # noqa: F401  (read by the skipif condition)

from crm.models import ExternalIdentity
from crm.services.contacts import contact_create, contact_update
from crm.sync.models import OutboxEntry
from ghl_integration.models import WebhookEvent
from ghl_integration.sync import wiring
from ghl_integration.webhooks import dispatch

from .conftest import contact_writes, ghl_contact

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The live server's threads write concurrently with the test: SQLite's single writer cannot take that.
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="concurrent writers need PostgreSQL"),
]
CONTACT_EVENTS = ("ContactCreate", "ContactUpdate", "ContactTagUpdate", "ContactDndUpdate")


@pytest.fixture
def round_trip(ghl, connected, live_server, monkeypatch):
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    assert all(event_type in dispatch.EVENT_HANDLERS for event_type in CONTACT_EVENTS)  # the inbound half's
    wiring.connect_outbound()
    ghl.control.webhooks(urls=[f"{live_server.url}/webhooks/ghl/"], retry_spacing_s=0.2, retry_jitter_s=0)
    yield connected
    ghl.control.webhooks(urls=[])
    app.conf.task_always_eager = eager
    # Eager tasks ran in two threads at once; celery's process-wide "join would block" flag is saved and
    # restored per eager call, so interleaved calls can leave it set. Put it back for later tests.
    _set_task_join_will_block(False)


def _settle(ghl, seconds: float = 1.5):
    """Let every webhook be delivered and processed, and anything it might trigger run."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ghl.control.wait_webhooks(timeout=5)
        time.sleep(0.2)


def test_one_local_change_is_pushed_once_and_its_echo_goes_nowhere(ghl, round_trip, caplog):
    # given: a contact created here and pushed (its ContactCreate comes back)
    contact = contact_create(organization=round_trip.organization, first_name="Echo", email="echo@example.com")
    _settle(ghl)
    ghl_id = ExternalIdentity.objects.get(object_id=contact.pk).external_id
    ghl.control.clear_request_log()
    events_before = WebhookEvent.objects.count()
    caplog.clear()
    # when: one local change
    contact_update(contact=contact, last_name="Chamber", tags=["loop-test"])
    _settle(ghl)
    # then: one write of the fields and one of the tag, and nothing after the echoes came back
    writes = [(r["method"], r["path"]) for r in contact_writes(ghl)]
    assert sorted(writes) == sorted([("PUT", f"/contacts/{ghl_id}"), ("POST", f"/contacts/{ghl_id}/tags")]), writes
    assert WebhookEvent.objects.count() > events_before  # the echoes did arrive
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert OutboxEntry.objects.filter(status__in=["pending", "in_progress", "failed"]).count() == 0
    assert OutboxEntry.objects.count() == 2  # the create and the one change: no entry from an echo
    contact.refresh_from_db()
    assert (contact.last_name, contact.tags) == ("Chamber", ["loop-test"])
    assert ghl_contact(ghl, ghl_id)["lastName"] == "Chamber"
    # every echo recognised by the pushed hash, or (an intermediate state) older than the push's watermark
    outcomes = [r.outcome for r in caplog.records if r.getMessage() == "ghl.sync.contact-event"]
    assert outcomes and set(outcomes) <= {"echo", "stale"}, outcomes
