"""Booking and cancelling through the agent tools announce one business event each, naming the acting agent
(so the agents' triggers never react to their own actions)."""
from crm import events

from .test_calendar_tools import at, cleanings, day, ok  # noqa: F401  (the fixtures)


def test_an_agents_booking_and_cancel_are_announced_once_with_the_agent(
        cleanings, maria, key, agent, call, day, django_capture_on_commit_callbacks):  # noqa: F811
    seen = []

    def receiver(**kwargs):
        seen.append((kwargs["event"], kwargs["contact_id"], kwargs["acting_agent_id"]))

    events.business_event.connect(receiver, weak=False, dispatch_uid="test-tool-events")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            booked = ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                                       "start_time": at(day, 11).isoformat(),
                                                       "idempotency_key": "k-ev-1"}))
        with django_capture_on_commit_callbacks(execute=True):  # a retried call replays: no second event
            ok(call(key, "book_appointment", {"contact": "Maria Lopez", "calendar": "Cleanings",
                                              "start_time": at(day, 11).isoformat(), "idempotency_key": "k-ev-1"}))
        with django_capture_on_commit_callbacks(execute=True):
            ok(call(key, "cancel_appointment", {"appointment": booked["appointment"]["ghl_appointment_id"]}))
    finally:
        events.business_event.disconnect(dispatch_uid="test-tool-events")

    contact = maria[0].pk
    assert seen == [(events.APPOINTMENT_BOOKED, contact, agent.pk), (events.APPOINTMENT_CANCELLED, contact, agent.pk)]
