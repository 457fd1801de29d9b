"""A location's pushes hold one push worker at a time, for a bounded time, handing over what is left
(#19 finding 3)."""
import pytest

from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.sync import push_tasks as tasks
from ghl_integration.sync.exclusive import location_job_name
from ghl_integration.sync.push import PUSH_JOB, outbox_push_pending
from tests.ghl_integration.contacts.conftest import held_elsewhere

from .conftest import contact_writes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduled(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.outbox_push_pending_task, "apply_async",
                        lambda args, countdown=None, **kw: calls.append((args, countdown)))
    return calls


def _contacts(connection, count):
    for i in range(count):
        contact_create(organization=connection.organization, first_name=f"S{i}", email=f"share{i}@example.com")


def test_a_second_push_task_of_a_busy_location_returns_at_once(ghl, connected, scheduled):
    _contacts(connected, 2)
    with held_elsewhere(location_job_name(connected, PUSH_JOB)):  # another worker drains this location
        assert outbox_push_pending(connection_id=connected.pk) == {}
    assert contact_writes(ghl) == [] and OutboxEntry.objects.filter(status="pending").count() == 2


def test_a_drain_out_of_time_hands_over_behind_the_other_locations(ghl, connected, scheduled):
    _contacts(connected, 3)

    counts = outbox_push_pending(connection_id=connected.pk, budget_seconds=0)

    assert counts == {} or sum(counts.values()) == 0  # no time at all: nothing claimed
    assert scheduled == [((connected.pk,), 0)]  # the rest is queued again, at the back of the queue
    assert outbox_push_pending(connection_id=connected.pk)["created"] == 3
    assert scheduled == [((connected.pk,), 0)]  # nothing left: no further hand-over
