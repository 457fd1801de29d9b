import pytest
from django.db import transaction

from crm import events


@pytest.fixture
def received():
    seen = []

    def receiver(**kwargs):
        seen.append(kwargs)

    events.business_event.connect(receiver, weak=False, dispatch_uid="test-events")
    yield seen
    events.business_event.disconnect(dispatch_uid="test-events")


@pytest.mark.django_db(transaction=True)
def test_an_event_is_sent_after_commit_with_the_acting_agent(received):
    with transaction.atomic():
        with events.agent_acting(7):
            events.emit(events.CONTACT_CREATED, organization_id=1, contact_id=2, data={"name": "Jane"})
        assert received == []
    assert received == [{"signal": events.business_event, "sender": None, "event": "contact.created",
                         "organization_id": 1, "contact_id": 2, "data": {"name": "Jane"}, "acting_agent_id": 7}]


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_rolled_back_write_is_never_sent(received):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            events.emit(events.CONTACT_CREATED, organization_id=1)
            raise RuntimeError("rolled back")
    assert received == []


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_stop_the_others(received, caplog):
    def broken(**kwargs):
        raise ValueError("boom")

    events.business_event.connect(broken, weak=False, dispatch_uid="test-events-broken")
    try:
        events.emit(events.MESSAGE_RECEIVED, organization_id=3)
    finally:
        events.business_event.disconnect(dispatch_uid="test-events-broken")
    assert [r["event"] for r in received] == ["message.received"]
    assert "business event receiver failed" in caplog.text


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown business event"):
        events.emit("contact.teleported", organization_id=1)
