"""The channel layer without GHL: registry, router and bindings, the console provider, the status machine."""
import pytest

from channels_app.errors import SendRefused
from channels_app.models import ChannelBinding
from channels_app.providers.base import Capabilities, ChannelProvider, SendResult
from channels_app.providers.registry import ProviderRegistry, registry
from channels_app.router import channel_route
from channels_app.sending import SendCommand, message_send
from crm.message_status import status_may_move
from crm.models import Message
from crm.services.contacts import contact_create

pytestmark = pytest.mark.django_db


class Fake(ChannelProvider):
    key = "fake"
    capabilities = {"sms": Capabilities()}

    def send(self, binding, message, *, contact):
        return SendResult(provider_message_id="f-1")


def test_a_key_registered_twice_raises():
    reg = ProviderRegistry()
    reg.register(Fake())
    with pytest.raises(ValueError, match="already registered"):
        reg.register(Fake())


def test_both_providers_are_registered_explicitly():
    assert {p.key for p in registry.all()} >= {"console", "ghl"}


def test_stored_binding_wins_and_unbound_channel_is_refused(org_factory):
    org = org_factory("Bound")
    with pytest.raises(SendRefused) as refused:
        channel_route(organization_id=org.pk, channel="sms")
    assert refused.value.code == "no_provider" and "SMS" in refused.value.message
    ChannelBinding.objects.create(organization=org, channel="sms", provider_key="console")
    provider, binding = channel_route(organization_id=org.pk, channel="sms")
    assert (provider.key, binding.organization_id) == ("console", org.pk)
    with pytest.raises(SendRefused):  # the binding serves SMS only
        channel_route(organization_id=org.pk, channel="email")


def test_console_provider_records_the_send_and_the_row_is_written_first(org_factory):
    org = org_factory("Console")
    ChannelBinding.objects.create(organization=org, channel="email", provider_key="console")
    ann = contact_create(organization=org, first_name="Ann", email="ann@example.com")
    console = registry.get("console")
    before = len(console.outbox)
    outcome = message_send(contact=ann, command=SendCommand(channel="email", text="Hi", subject="Hello",
                                                            cc=["boss@example.com"]), idempotency_key="k1")
    assert outcome.status == "delivered" and outcome.message.provider_message_id.startswith("console-")
    assert console.outbox[before:][0]["to"] == "ann@example.com"
    again = message_send(contact=ann, command=SendCommand(channel="email", text="Hi", subject="Hello",
                                                          cc=["boss@example.com"]), idempotency_key="k1")
    assert again.replayed and again.message.pk == outcome.message.pk and len(console.outbox) == before + 1
    assert Message.objects.filter(organization=org).count() == 1


def test_dnd_is_refused_before_anything_is_written(org_factory):
    org = org_factory("Dnd")
    ChannelBinding.objects.create(organization=org, channel="sms", provider_key="console")
    bob = contact_create(organization=org, first_name="Bob", phone="+15035550188", dnd_sms=True)
    with pytest.raises(SendRefused) as refused:
        message_send(contact=bob, command=SendCommand(channel="sms", text="Hi"))
    assert refused.value.code == "dnd" and "SMS" in refused.value.message
    assert not Message.objects.filter(organization=org).exists()


@pytest.mark.parametrize(("current", "new", "moves"), [
    ("pending", "sent", True), ("queued", "sent", True), ("sent", "delivered", True), ("delivered", "read", True),
    ("delivered", "sent", False), ("read", "delivered", False), ("sent", "failed", True),
    ("delivered", "failed", False), ("failed", "delivered", False), ("sent", "sent", False),
    ("pending", "undelivered", True), ("received", "read", False),
])
def test_status_never_moves_backwards(current, new, moves):
    assert status_may_move(current, new) is moves


def test_bindings_are_listed_in_the_admin(client, org_factory, admin_user):
    org = org_factory("Admin view")
    ChannelBinding.objects.create(organization=org, channel="sms", provider_key="console")
    client.force_login(admin_user)
    page = client.get("/admin/channels_app/channelbinding/")
    assert page.status_code == 200 and "console" in page.content.decode()
