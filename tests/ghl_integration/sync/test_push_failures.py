"""Failures: retry with backoff, dead entries, lease expiry, disconnect mid-push."""
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from crm.sync.outbox import MAX_PUSH_ATTEMPTS, outbox_claim_batch
from ghl_integration.connections import connection_disconnect
from ghl_integration.contacts import outbound as contacts_outbound
from ghl_integration.models import GhlConnection
from ghl_integration.sync.push import outbox_push_pending
from tests.factories import sandbox_connect

from .conftest import LOCATION_ID, contact_writes

pytestmark = pytest.mark.django_db(transaction=True)


def _make_due():
    OutboxEntry.objects.filter(status="failed").update(next_attempt_at=timezone.now())


def test_a_server_error_is_retried_with_backoff_then_succeeds(ghl, connected):
    # given: GHL answers 500 to everything (the client does not retry a 500 itself)
    ghl.control.faults(api={"http_5xx": 1.0, "status_5xx": [500]})
    contact_create(organization=connected.organization, first_name="Retry", email="retry@example.com")
    # when
    outbox_push_pending(connection_id=connected.pk)
    # then: failed, visible, due later
    entry = OutboxEntry.objects.get()
    assert entry.status == "failed" and "500" in entry.last_error
    assert entry.next_attempt_at > timezone.now() + timedelta(seconds=20)
    outbox_push_pending(connection_id=connected.pk)  # not due yet: nothing sent
    assert OutboxEntry.objects.get().attempts == 1
    # when GHL recovers and the backoff has passed
    ghl.control.clear_faults()
    _make_due()
    outbox_push_pending(connection_id=connected.pk)
    entry.refresh_from_db()
    assert entry.status == "done" and entry.attempts == 2
    assert [c for c in ghl.control.objects("contact", location_id=LOCATION_ID) if c["email"] == "retry@example.com"]


def test_a_push_failing_every_time_ends_dead_and_visible(ghl, connected):
    ghl.control.faults(api={"http_5xx": 1.0, "status_5xx": [500]})
    contact_create(organization=connected.organization, first_name="Dead", email="dead@example.com")
    for _ in range(MAX_PUSH_ATTEMPTS):
        _make_due()
        outbox_push_pending(connection_id=connected.pk)
    entry = OutboxEntry.objects.get()
    assert entry.status == "dead" and entry.attempts == MAX_PUSH_ATTEMPTS and entry.last_error


def test_a_worker_dying_mid_push_is_recovered_by_lease_expiry(ghl, connected):
    contact_create(organization=connected.organization, first_name="Lease", email="lease@example.com")
    claimed = outbox_claim_batch(provider="ghl", account_id=LOCATION_ID, lease_seconds=300)  # then the worker dies
    assert len(claimed) == 1
    outbox_push_pending(connection_id=connected.pk)
    assert contact_writes(ghl) == []  # the lease is still live
    OutboxEntry.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    outbox_push_pending(connection_id=connected.pk)
    assert OutboxEntry.objects.get().status == "done"
    assert len(contact_writes(ghl)) == 1


def test_disconnect_mid_push_stops_pushes_keeps_entries_and_reconnect_drains_them(ghl, connected, owner, settings,
                                                                                 monkeypatch):
    # given: three local contacts waiting
    org = connected.organization
    for n in range(3):
        contact_create(organization=org, first_name=f"D{n}", email=f"d{n}@example.com")
    real_push = contacts_outbound.ContactPusher.push
    pushed = []

    def push_then_disconnect(self, entry, contact):
        real_push(self, entry, contact)
        pushed.append(entry.pk)
        if len(pushed) == 1:  # the owner disconnects while the worker is mid-batch
            connection_disconnect(connection=GhlConnection.objects.get(pk=connected.pk))

    monkeypatch.setattr(contacts_outbound.ContactPusher, "push", push_then_disconnect)
    # when
    counts = outbox_push_pending(connection_id=connected.pk)
    # then: one pushed, the rest untouched and pending, nothing held against them
    assert counts["released"] == 2
    assert len(contact_writes(ghl)) == 1
    statuses = sorted(OutboxEntry.objects.values_list("status", "attempts"))
    assert statuses == [("done", 1), ("pending", 0), ("pending", 0)]
    assert outbox_push_pending(connection_id=connected.pk) == {}  # an inactive connection pushes nothing
    assert len(contact_writes(ghl)) == 1
    # when the owner reconnects
    monkeypatch.setattr(contacts_outbound.ContactPusher, "push", real_push)
    again = sandbox_connect(ghl, organization=org, user=owner, location_id=LOCATION_ID)
    outbox_push_pending(connection_id=again.pk)
    # then
    assert set(OutboxEntry.objects.values_list("status", flat=True)) == {"done"}
    emails = {c["email"] for c in ghl.control.objects("contact", location_id=LOCATION_ID)}
    assert {"d0@example.com", "d1@example.com", "d2@example.com"} <= emails
