"""list_conversations, get_messages, mark_conversation_read (in GHL too) and the messages in
get_contact_context, over REST."""
import pytest

from crm.models import Contact, Conversation
from crm.services.conversations import message_record_remote
from crm.services.external_ids import external_id_link

from .conftest import LOCATION_ID
from .test_messaging_tools import error, ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threads(ghl, org, connected):
    remote = ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Leo", lastName="Park",
                                        email="leo@example.com", phone="+15035550155")["contact"]
    leo = Contact.objects.create(organization=org, first_name="Leo", last_name="Park", full_name="Leo Park",
                                 email="leo@example.com", phone="+15035550155")
    external_id_link(obj=leo, provider="ghl", account_id=LOCATION_ID, external_id=remote["id"],
                     connection_id=connected.pk)
    # Leo texts twice in GHL; our mirror has them (as the inbound webhooks leave them)
    ghl_conv = None
    for text in ("Hi", "Are you open Saturday?"):
        answer = ghl.control.inbound_message(remote["id"], text)
        ghl_conv = answer["conversationId"]
        message_record_remote(contact=leo, channel="sms", direction="inbound", provider="ghl",
                              provider_message_id=answer["message"]["id"], provider_conversation_id=ghl_conv,
                              body=text, status="received", sender_type="contact")
    other = Contact.objects.create(organization=org, first_name="Old", full_name="Old Timer", phone="+15035550144")
    message_record_remote(contact=other, channel="sms", direction="outbound", provider="ghl",
                          provider_message_id="old-1", body="Thanks!", status="delivered", sender_type="user")
    ghl.control.clear_request_log()
    return leo, ghl_conv


def test_list_conversations_newest_first_with_unread(threads, key, call):
    leo, _ = threads
    result = ok(call(key, "list_conversations", {}))
    names = [c["contact"]["name"] for c in result["conversations"]]
    assert names == ["Old Timer", "Leo Park"]  # Old Timer's message was recorded last
    unread = ok(call(key, "list_conversations", {"unread_only": True}))["conversations"]
    assert [(c["contact"]["name"], c["unread_count"], c["last_message"]["body"]) for c in unread] == [
        ("Leo Park", 2, "Are you open Saturday?")]


def test_get_messages_by_name_oldest_first_with_paging(threads, key, call):
    page = ok(call(key, "get_messages", {"contact": "leo park", "limit": 1}))
    assert [m["body"] for m in page["messages"]] == ["Are you open Saturday?"] and page["has_more"]
    assert page["messages"][0]["direction"] == "inbound" and page["messages"][0]["status"] == "received"
    older = ok(call(key, "get_messages", {"contact": "leo park", "before": page["next_before"]}))
    assert [m["body"] for m in older["messages"]] == ["Hi"] and not older["has_more"]
    _, err = error(call(key, "get_messages", {}))
    assert (err["code"], err["field"]) == ("invalid", "contact")
    _, err = error(call(key, "get_messages", {"conversation_id": 999999}))
    assert err["code"] == "not_found"
    _, err = error(call(key, "get_messages", {"contact": "leo park", "before": "yesterday"}))
    assert err["field"] == "before"


def test_mark_read_reads_it_in_ghl_too(ghl, threads, key, call):
    leo, ghl_conv = threads
    assert ghl.control.objects("conversation", id=ghl_conv)["unreadCount"] == 2
    result = ok(call(key, "mark_conversation_read", {"contact": "Leo Park"}))
    assert result["status"] == "read"
    assert Conversation.objects.get(contact=leo).unread_count == 0
    assert ghl.control.objects("conversation", id=ghl_conv)["unreadCount"] == 0
    puts = [r for r in ghl.control.request_log() if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == [f"/conversations/{ghl_conv}"]


def test_contact_context_has_the_last_messages(threads, key, call):
    context = ok(call(key, "get_contact_context", {"contact": "Leo Park"}))
    assert [(m["body"], m["direction"], m["sender"]) for m in context["last_messages"]] == [
        ("Are you open Saturday?", "inbound", "contact"), ("Hi", "inbound", "contact")]


def test_messaging_reads_say_how_fresh_the_mirror_is(threads, connected, org, key, call):
    from datetime import datetime

    from django.db.models import Max
    from django.utils import timezone

    from crm.models import Message
    from ghl_integration.conversations.reconcile import WATERMARK_KEY
    from ghl_integration.models import GhlConnection

    leo, _ = threads
    # given: what GHL last told us of each conversation (its messages, as their webhooks left them)
    newest = dict(Message.objects.values("conversation__contact__full_name").annotate(at=Max("updated_at"))
                  .values_list("conversation__contact__full_name", "at"))
    nia = Contact.objects.create(organization=org, first_name="Nia", full_name="Nia Local", phone="+15035550166")
    Message.objects.create(organization=org, channel="sms", direction="outbound", body="draft", status="pending",
                           conversation=Conversation.objects.create(organization=org, contact=nia))

    # when / then: each conversation and each answer says it
    listed = ok(call(key, "list_conversations", {}))
    by_name = {c["contact"]["name"]: c["synced_at"] for c in listed["conversations"]}
    assert {name: datetime.fromisoformat(at) for name, at in by_name.items() if at} == newest
    assert by_name["Nia Local"] is None  # nothing of it has been seen in GHL, and nothing was checked
    assert datetime.fromisoformat(listed["synced_at"]) == max(newest.values())
    page = ok(call(key, "get_messages", {"contact": "Leo Park"}))
    assert datetime.fromisoformat(page["synced_at"]) == newest["Leo Park"]
    assert ok(call(key, "get_messages", {"contact": "Nia Local"}))["synced_at"] is None

    # a reconciliation that has since checked every message against GHL makes the whole mirror that fresh
    checked = timezone.now()
    GhlConnection.objects.filter(pk=connected.pk).update(config={**connected.config,
                                                                 WATERMARK_KEY: checked.isoformat()})
    listed = ok(call(key, "list_conversations", {}))
    assert {datetime.fromisoformat(c["synced_at"]) for c in listed["conversations"]} == {checked}
    assert datetime.fromisoformat(listed["synced_at"]) == checked
    page = ok(call(key, "get_messages", {"conversation_id": page["messages"][0]["conversation_id"]}))
    assert datetime.fromisoformat(page["synced_at"]) == checked
