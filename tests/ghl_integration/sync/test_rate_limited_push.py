"""A push that must wait for GHL's rate limit gives its worker back: the drain stops, its entries wait out the
window as pending, and the next drain is queued for then; nothing is slept off in the worker (#19 finding 3)."""
import time
import uuid

import pytest
from django.utils import timezone

from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.sync import push_tasks as tasks
from ghl_integration.sync.push import outbox_push_pending
from ghl_sandbox import constants as sbx

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rate_limited_push_is_rescheduled_not_slept(ghl, connected, monkeypatch, settings):
    # given: GHL allows 3 requests per 10 s for the location, and 6 local contacts to push (the limits our
    # limiter learns from GHL's headers are shared for a day: this test keeps them under keys of its own)
    settings.GHL_RATE_LIMIT_KEY_PREFIX = f"ghl:rl:test:{uuid.uuid4().hex}"
    ghl.control.rate_limits(enabled=True, max=3, interval_ms=10_000)
    for i in range(6):
        contact_create(organization=connected.organization, first_name=f"R{i}", email=f"ratelimited{i}@example.com")
    scheduled = []
    monkeypatch.setattr(tasks.outbox_push_pending_task, "apply_async",
                        lambda args, countdown=None, **kw: scheduled.append((args, countdown)))

    # when
    started = time.monotonic()
    counts = outbox_push_pending(connection_id=connected.pk)
    elapsed = time.monotonic() - started

    # then: some went, the rest wait as pending for the window, and a drain is queued for when it opens
    try:
        assert elapsed < 5, f"the push held its worker {elapsed:.1f}s"
        assert 1 <= counts["created"] < 6 and counts["released"] == 6 - counts["created"]
        waiting = OutboxEntry.objects.filter(status="pending")
        assert waiting.count() == 6 - counts["created"]
        assert all(e.next_attempt_at > timezone.now() and e.attempts == 0 for e in waiting)
        assert [args for args, _ in scheduled] == [(connected.pk,)] and 1 <= scheduled[0][1] <= 11
        assert not OutboxEntry.objects.filter(status__in=["failed", "dead"]).exists()
    finally:
        ghl.control.rate_limits(enabled=True, max=sbx.RATE_LIMIT_MAX, interval_ms=sbx.RATE_LIMIT_INTERVAL_MS)
