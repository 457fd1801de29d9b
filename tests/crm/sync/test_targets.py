"""`SyncTargetsCache`: a run's pages share one read of the organisation's sync targets per ``max_age``."""
import datetime as dt

import pytest

from crm.models import Contact
from crm.sync import targets as targets_module
from crm.sync.inbound import RemoteRecord
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.models import OutboxEntry
from crm.sync.targets import SyncTargetsCache

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 1000.0}
    monkeypatch.setattr(targets_module.time, "monotonic", lambda: now["t"])
    return now


def test_reads_the_resolvers_once_per_max_age(org, targets, clock, monkeypatch):
    calls = []
    real = targets_module.sync_targets_for
    monkeypatch.setattr(targets_module, "sync_targets_for",
                        lambda org_id, **kind: calls.append(org_id) or real(org_id, **kind))
    cache = SyncTargetsCache(org.pk, max_age=1.0)

    assert cache() == [(PROVIDER, ACCOUNT)]
    targets["list"] = [(PROVIDER, ACCOUNT), (PROVIDER, "loc2")]
    clock["t"] += 0.9
    assert cache() == [(PROVIDER, ACCOUNT)] and calls == [org.pk]
    clock["t"] += 0.1
    assert cache() == [(PROVIDER, ACCOUNT), (PROVIDER, "loc2")] and calls == [org.pk, org.pk]


def test_a_page_with_a_targets_cache_queues_new_contacts_for_the_other_accounts(org, targets, clock):
    targets["list"] = [(PROVIDER, ACCOUNT), (PROVIDER, "loc2")]
    cache = SyncTargetsCache(org.pk, max_age=1.0)

    def page(start):
        return contact_apply_remote_page(
            organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1, sync_targets=cache,
            records=[RemoteRecord(f"ext-{i}", {"first_name": f"P{i}"}, T0) for i in range(start, start + 3)])

    page(0)
    targets["list"] = [(PROVIDER, ACCOUNT)]  # loc2 disconnected: still cached for this second
    page(3)
    clock["t"] += 1.0
    page(6)
    queued = set(OutboxEntry.objects.filter(account_id="loc2").values_list("object_id", flat=True))
    first_six = Contact.objects.filter(first_name__in=[f"P{i}" for i in range(6)])
    assert queued == set(first_six.values_list("pk", flat=True))
    assert not OutboxEntry.objects.filter(account_id=ACCOUNT).exists()  # never back to the source
