"""A dry run of every write tool validates and resolves names, says what would change, and changes nothing:
no GHL request (the sandbox's request log), no local row written, no outbox entry, no idempotency record."""
import pytest
from django.apps import apps

from agents.tools.registry import registry

from .test_calendar_tools import at, cleanings, day, ok  # noqa: F401  (fixtures)
from .test_messaging_reads import threads  # noqa: F401
from .test_opportunity_tools import acme  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

WATCHED = ("crm.Contact", "crm.Opportunity", "crm.Appointment", "crm.AppointmentRequest", "crm.Conversation",
           "crm.Message", "crm.ExternalIdentity", "crm.OutboxEntry", "agents.IdempotencyRecord",
           "agents.PendingAction")


def rows() -> dict[str, list[dict]]:
    out = {}
    for label in WATCHED:
        app_label, name = label.split(".")
        model = next(m for m in apps.get_models() if m._meta.app_label == app_label and m.__name__ == name)
        out[label] = list(model.objects.order_by("pk").values())
    return out


def test_a_dry_run_of_every_write_tool_sends_nothing_and_changes_nothing(ghl, connected, threads, acme,  # noqa: F811
                                                                          cleanings, key, call, day):  # noqa: F811
    leo, _ = threads
    type(leo).objects.filter(pk=leo.pk).update(tags=["old"])
    booked = ok(call(key, "book_appointment", {"contact": "Leo Park", "calendar": "Cleanings",
                                               "start_time": at(day, 10).isoformat()}))["appointment"]
    calls = {
        "create_contact": {"name": "Nora New", "email": "nora@example.com", "tags": ["vip"]},
        "update_contact": {"contact": "Leo Park", "fields": {"city": "Bend", "custom_fields": {"x": "1"}}},
        "add_tags": {"contact": "leo@example.com", "tags": ["vip"]},
        "remove_tags": {"contact": "Leo Park", "tags": ["old"]},
        "send_message": {"contact": "Leo Park", "text": "See you Saturday"},
        "mark_conversation_read": {"contact": "Leo Park"},
        "create_opportunity": {"contact": "Leo Park", "name": "Leo's whitening", "monetary_value": 300},
        "move_opportunity": {"opportunity": "Acme deal", "stage": "Proposal Sent"},
        "update_opportunity": {"opportunity": "Acme deal", "status": "won", "monetary_value": 99},
        "book_appointment": {"contact": "Leo Park", "calendar": "Cleanings", "start_time": at(day, 14).isoformat()},
        "reschedule_appointment": {"appointment": str(booked["appointment_id"]),
                                   "start_time": at(day, 15).isoformat()},
        "cancel_appointment": {"appointment": booked["ghl_appointment_id"]},
    }
    assert set(calls) == {t.name for t in registry.all() if t.writes}
    ghl.control.clear_request_log()
    before = rows()
    for tool, arguments in calls.items():
        status, body = call(key, tool, {**arguments, "dry_run": True, "idempotency_key": f"dry-{tool}"})
        assert status == 200 and body["ok"], (tool, body)
        assert body["result"]["status"] == "dry_run", (tool, body)
        assert ghl.control.request_log() == [], tool
        assert rows() == before, tool
    # the keys a dry run was given are still free: the real call does the work
    status, body = call(key, "add_tags", {**calls["add_tags"], "idempotency_key": "dry-add_tags"})
    assert status == 200 and body["result"]["status"] == "confirmed", body
