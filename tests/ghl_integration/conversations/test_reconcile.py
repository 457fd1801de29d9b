"""A dropped InboundMessage is recovered by reconciliation, once, and its event fires then; the run reads only
the conversations that changed since the last one."""
import pytest

from crm import events
from crm.models import Message
from ghl_integration.conversations.reconcile import messages_reconcile

from .conftest import deliver, recorded

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dropped_inbound_message_is_recovered_once(ghl, receiver, ana, heard, connection):
    local, ghl_id = ana
    ghl.control.inbound_message(ghl_id, "first")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    ghl.control.inbound_message(ghl_id, "dropped on the way")
    recorded(ghl, receiver)  # GHL's delivery never reaches us
    ghl.control.inbound_message(ghl_id, "third")
    deliver(recorded(ghl, receiver, "InboundMessage"))
    assert Message.objects.count() == 2
    # when
    result = messages_reconcile(connection=connection)
    # then: the missed one is there, once, and its event fired once
    assert result.recovered == 1 and result.conversations == 1
    assert sorted(Message.objects.values_list("body", flat=True)) == ["dropped on the way", "first", "third"]
    bodies = [e[2]["body"] for e in heard if e[0] == events.MESSAGE_RECEIVED]
    assert sorted(bodies) == ["dropped on the way", "first", "third"]
    # a second run finds nothing new, and reads only what changed since the first
    connection.refresh_from_db()
    ghl.control.clear_request_log()
    again = messages_reconcile(connection=connection)
    assert again.recovered == 0
    listed = [r for r in ghl.control.request_log() if r["path"].endswith("/messages")]
    assert len(listed) <= 1  # the one conversation changed within the overlap; the other 50 contacts' none


def test_the_cost_follows_the_conversations_that_changed(ghl, receiver, ana, connection, monkeypatch):
    from ghl_integration.conversations import reconcile as module
    from tests.ghl_integration.contacts.conftest import LOCATION

    monkeypatch.setattr(module, "OVERLAP", module.dt.timedelta(0))  # GHL's lag does not matter here
    local, ghl_id = ana
    others = [ghl.control.change_contact("create", locationId=LOCATION, firstName=f"P{i}",
                                         phone=f"+1503555030{i}")["contact"]["id"] for i in range(3)]
    for other in others:
        ghl.control.inbound_message(other, "older news")
    messages_reconcile(connection=connection)  # the first run: everything of the last day
    connection.refresh_from_db()
    recorded(ghl, receiver)
    ghl.control.clear_request_log()
    # when: only Ana writes, then a run
    ghl.control.inbound_message(ghl_id, "new")
    result = messages_reconcile(connection=connection)
    # then: one conversation read, one message recovered; the three quiet ones cost nothing
    assert (result.conversations, result.recovered) == (1, 1)
    listed = [r["path"] for r in ghl.control.request_log() if r["path"].endswith("/messages")]
    assert len(listed) == 1 and Message.objects.filter(body="new").count() == 1


def test_a_run_out_of_time_hands_over_and_the_follow_ups_finish_the_walk_once(ghl, receiver, ana, connection,
                                                                            monkeypatch):
    # given: 5 people texted and every webhook was lost; conversations listed 2 a page, each task out of time
    # after one conversation
    from unittest import mock

    from django.utils import timezone

    from ghl_integration.conversations import reconcile as module
    from ghl_integration.conversations import tasks as messages_tasks
    from tests.ghl_integration.contacts.conftest import LOCATION

    people = [ghl.control.change_contact("create", locationId=LOCATION, firstName=f"P{i}",
                                         phone=f"+1503555031{i}")["contact"]["id"] for i in range(5)]
    for i, person in enumerate(people):
        ghl.control.inbound_message(person, f"lost {i}")
    recorded(ghl, receiver)  # never delivered
    monkeypatch.setattr(module, "BUDGET_SECONDS", 0)
    monkeypatch.setattr(module, "PAGE_SIZE", 2)
    ghl.control.clear_request_log()
    before = timezone.now()

    # when: the beat's task, then each follow-up it queues, as workers would
    queued: list[tuple] = []
    queued_at: list = []

    def queue(args):
        queued.append(tuple(args))
        queued_at.append(timezone.now())

    task = messages_tasks.messages_reconcile_task
    with mock.patch.object(task, "apply_async", side_effect=queue):
        task(connection.pk)
        for args in queued:  # grows while the follow-ups run
            task(*args)

    # then: one task per conversation, every lost message here once, each conversation's messages read once
    assert [number for _, number in queued] == [1, 2, 3, 4, 5]
    assert sorted(Message.objects.filter(body__startswith="lost").values_list("body", flat=True)) == [
        f"lost {i}" for i in range(5)]
    listed = [r["path"] for r in ghl.control.request_log() if r["path"].endswith("/messages")]
    assert len(listed) == len(set(listed)) == 5
    connection.refresh_from_db()
    assert module.RESUME_KEY not in connection.config
    watermark = module.dt.datetime.fromisoformat(connection.config[module.WATERMARK_KEY])
    assert before <= watermark <= queued_at[0]  # the first task's start: what came since is the next run's

    # and: a redelivered follow-up does nothing
    ghl.control.clear_request_log()
    task(*queued[0])
    assert ghl.control.request_log() == [] and Message.objects.filter(body__startswith="lost").count() == 5
