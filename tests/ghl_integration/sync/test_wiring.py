"""Queueing: a push task right after the commit of a local change, and the minute sweep for what is due."""
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from ghl_integration.sync import push_tasks as tasks
from ghl_integration.sync import wiring
from ghl_integration.sync.push import outbox_push_sweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.outbox_push_pending_task, "delay", lambda connection_id: calls.append(connection_id))
    return calls


def test_a_push_is_queued_after_commit_not_before(connected, queued):
    wiring.connect_outbound()
    with transaction.atomic():
        contact_create(organization=connected.organization, first_name="Q", email="q@example.com")
        contact_create(organization=connected.organization, first_name="R", email="r@example.com")
        assert queued == []  # nothing leaves before the commit
    assert set(queued) == {connected.pk}


def test_a_rolled_back_change_queues_nothing(connected, queued):
    wiring.connect_outbound()
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_create(organization=connected.organization, first_name="Gone", email="gone@example.com")
        raise RuntimeError
    assert queued == [] and not OutboxEntry.objects.exists()


def test_the_sweep_queues_connections_with_due_entries_only(connected, queued):
    contact_create(organization=connected.organization, first_name="S", email="s@example.com")
    OutboxEntry.objects.update(status="failed", next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert outbox_push_sweep() == 0  # backing off
    OutboxEntry.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert outbox_push_sweep() == 1 and queued == [connected.pk]


def test_the_sweep_is_scheduled_every_15_seconds(db):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from config.celery import app

    call_command("setup_periodic_tasks")
    task = PeriodicTask.objects.get(task="ghl_integration.sync.sweep_contact_outbox")
    # every 15 s: what a broker outage left unqueued is pushed well within a minute of the broker returning
    assert (task.crontab, task.interval.every, task.interval.period, task.enabled) == (None, 15, "seconds", True)
    assert "ghl_integration.sync.sweep_contact_outbox" in app.tasks
    assert "ghl_integration.sync.push_contacts" in app.tasks


def test_a_reconnect_queues_the_pushes_that_waited_at_once(connected, queued, ghl, owner):
    from ghl_integration.connections import connection_disconnect
    from tests.factories import sandbox_connect

    # given: a change not pushed yet when the owner disconnected (the push of a disconnected location releases
    # its entries) stays pending
    contact = contact_create(organization=connected.organization, first_name="Waited", email="waited@example.com")
    connection_disconnect(connection=connected)
    assert tasks.outbox_push_pending_task.run(connected.pk) == {}
    entries = OutboxEntry.objects.for_org(connected.organization)
    assert entries.get(object_id=contact.pk).status == "pending" and queued == []

    # when: the owner connects the location again
    again = sandbox_connect(ghl, organization=connected.organization, user=owner, location_id=connected.location_id)

    # then: its push is queued on the spot (not at the next minute sweep), and it takes the change to GHL
    assert again.pk == connected.pk and queued == [connected.pk]
    tasks.outbox_push_pending_task.run(connected.pk)
    assert entries.get(object_id=contact.pk).status == "done"
    assert [c for c in ghl.control.objects("contact", location_id=connected.location_id)
            if c.get("email") == "waited@example.com"]
