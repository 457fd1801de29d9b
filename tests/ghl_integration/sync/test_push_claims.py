"""An outbox batch claimed by a pusher is never stranded: given back when the drain fails, its claim short and
renewed while the drain works (#19 finding 2)."""
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.sync import push as push_module
from ghl_integration.sync.push import outbox_push_pending

pytestmark = pytest.mark.django_db(transaction=True)


def _contacts(connection, count: int) -> list:
    return [contact_create(organization=connection.organization, first_name=f"P{i}", email=f"claimrec{i}@example.com")
            for i in range(count)]


def _emails_in_ghl(ghl, location_id) -> list[str]:
    return sorted(c.get("email") for c in ghl.control.objects("contact", location_id=location_id)
                  if (c.get("email") or "").startswith("claimrec"))


def test_a_push_drain_that_fails_mid_batch_gives_the_rest_back_at_once(ghl, connected):
    # given: 5 local contacts; the drain's database fails as it reaches the 3rd
    _contacts(connected, 5)
    real_push, seen = push_module.PushDrain.push, []

    def push_failing_at_the_third(self, entry):
        seen.append(entry.pk)
        if len(seen) == 3:
            raise OperationalError("server closed the connection unexpectedly")
        return real_push(self, entry)

    with mock.patch.object(push_module.PushDrain, "push", push_failing_at_the_third), \
            pytest.raises(OperationalError):
        outbox_push_pending(connection_id=connected.pk)

    # then: two pushed, three due again at once (the claim not counted), and the next drain pushes them
    statuses = list(OutboxEntry.objects.order_by("pk").values_list("status", "attempts"))
    assert statuses == [("done", 1)] * 2 + [("pending", 0)] * 3
    assert OutboxEntry.objects.filter(status="pending", next_attempt_at__lte=timezone.now()).count() == 3
    assert outbox_push_pending(connection_id=connected.pk)["created"] == 3
    assert _emails_in_ghl(ghl, connected.location_id) == [f"claimrec{i}@example.com" for i in range(5)]


def test_a_claimed_batch_is_held_briefly_and_renewed_while_the_drain_works(ghl, connected, monkeypatch):
    # given: a lease of 1.2 s and pushes slowed to 0.4 s each, so the six pushes outlast the lease twice over
    # (without renewal the later entries expire) while a renewal every 0.4 s leaves 0.8 s for a loaded machine
    _contacts(connected, 6)
    monkeypatch.setattr(push_module, "PUSH_LEASE_SECONDS", 1.2)
    real_push, expired_while_held = push_module.PushDrain.push, []

    def slow_push(self, entry):
        time.sleep(0.4)
        held = OutboxEntry.objects.filter(status="in_progress").exclude(pk=entry.pk)
        expired_while_held.extend(held.filter(claimed_until__lt=timezone.now()).values_list("pk", flat=True))
        return real_push(self, entry)

    with mock.patch.object(push_module.PushDrain, "push", slow_push):
        assert outbox_push_pending(connection_id=connected.pk)["created"] == 6

    assert expired_while_held == []


def test_production_claims_last_under_a_minute(ghl, connected):
    _contacts(connected, 1)
    claimed = []
    real_claim = push_module.outbox_claim_batch

    def claim(**kwargs):
        entries = real_claim(**kwargs)
        claimed.extend(entries)
        return entries

    with mock.patch.object(push_module, "outbox_claim_batch", claim):
        outbox_push_pending(connection_id=connected.pk)
    assert claimed and all(e.claimed_until - timezone.now() < timedelta(seconds=60) for e in claimed)
