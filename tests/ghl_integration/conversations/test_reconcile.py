"""A dropped InboundMessage is recovered by reconciliation, once, and its event fires then; the run reads only
the conversations that changed since the last one."""
import pytest

from crm import events
from crm.models import Message
from ghl_integration.messages_reconcile import messages_reconcile

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
    from ghl_integration import messages_reconcile as module
    from tests.ghl_integration.sync.conftest import LOCATION

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
