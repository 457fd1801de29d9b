"""The owner's conversations pages: newest first with unread state, one conversation's messages with their
statuses, a reply box through the same send service (DND refused in the form), members read only."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.models import ChannelBinding
from channels_app.providers.registry import registry
from crm.models import Contact, Message
from crm.services.conversations import message_record, message_record_remote
from tenancy.services import membership_add, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(org_factory):
    org = org_factory("Smile")
    ChannelBinding.objects.create(organization=org, channel="sms", provider_key="console")
    ann = Contact.objects.create(organization=org, first_name="Ann", full_name="Ann Lee", phone="+15035550111")
    bob = Contact.objects.create(organization=org, first_name="Bob", full_name="Bob Ray", phone="+15035550112",
                                 dnd_sms=True)
    earlier = timezone.now() - timedelta(hours=2)
    message_record(contact=bob, channel="sms", direction="outbound", body="Your crown is ready",
                   status="failed", error="Carrier rejected the message (30007)", created_at=earlier)
    message_record_remote(contact=ann, channel="sms", direction="inbound", provider="ghl",
                          provider_message_id="in-1", body="Can I come at 4?", status="received")
    other = org_factory("Other")
    stranger = Contact.objects.create(organization=other, first_name="Zed", full_name="Zed Hidden",
                                      phone="+15035550113")
    message_record(contact=stranger, channel="sms", direction="inbound", body="not yours", status="received")
    return org, ann, bob


def _login(client, org, role=None):
    user = org.memberships.get().user
    if role:
        user = user_create(username=f"u-{role}", password="pw-12345678")
        membership_add(organization=org, user=user, role=role)
    client.force_login(user)


def test_list_is_newest_first_with_unread_and_only_this_organization(client, inbox):
    org, ann, bob = inbox
    _login(client, org)
    html = client.get(reverse("conversations_list", kwargs={"org_id": org.pk})).content.decode()
    assert html.index("Ann Lee") < html.index("Bob Ray") and "Zed Hidden" not in html
    assert "1 unread" in html and "Can I come at 4?" in html
    assert f'href="/orgs/{org.pk}/conversations/"' in html  # the nav link


def test_one_conversation_shows_statuses_and_the_reply_is_sent_once(client, inbox):
    org, ann, bob = inbox
    _login(client, org)
    conversation = ann.conversations.get()
    url = reverse("conversation_detail", kwargs={"org_id": org.pk, "conversation_id": conversation.pk})
    page = client.get(url).content.decode()
    assert "Can I come at 4?" in page and "Received" in page
    console = registry.get("console")
    before = len(console.outbox)
    form = {"text": "Yes, 4 pm works.", "token": "form-1"}
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302  # a double submit: the same token sends once
    assert len(console.outbox) == before + 1 and console.outbox[-1]["body"] == "Yes, 4 pm works."
    reply = Message.objects.get(direction="outbound", conversation=conversation)
    assert (reply.sender_type, reply.status) == ("user", "delivered")
    assert "Delivered" in client.get(url).content.decode()


def test_reply_refused_for_dnd_shows_why_and_sends_nothing(client, inbox):
    org, ann, bob = inbox
    _login(client, org)
    url = reverse("conversation_detail", kwargs={"org_id": org.pk, "conversation_id": bob.conversations.get().pk})
    page = client.get(url).content.decode()
    assert "Carrier rejected the message (30007)" in page and "Failed" in page
    response = client.post(url, {"text": "Hello?", "token": "t2"})
    assert response.status_code == 400 and "do-not-disturb" in response.content.decode()
    assert Message.objects.filter(conversation__contact=bob).count() == 1
    assert client.post(url, {"text": " ", "token": "t3"}).status_code == 400


def test_members_read_but_cannot_reply_and_strangers_get_404(client, inbox, org_factory):
    org, ann, bob = inbox
    _login(client, org, role="member")
    url = reverse("conversation_detail", kwargs={"org_id": org.pk, "conversation_id": ann.conversations.get().pk})
    page = client.get(url).content.decode()
    assert "Can I come at 4?" in page and 'id="reply"' not in page
    assert client.post(url, {"text": "hi", "token": "x"}).status_code == 403
    other = org_factory("Elsewhere")
    client.force_login(other.memberships.get().user)
    assert client.get(url).status_code == 404
