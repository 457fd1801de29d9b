"""No GET before a PUT unless the policy needs GHL's state and the webhooks have not given it (#19).

The sandbox delivers its webhooks to a recording endpoint; the test feeds them to the product's inbox (stored,
then processed, or only stored: an event a worker has not reached yet), and drives the push worker itself.
The sandbox's request log counts what the push sent.
"""
import pytest

from crm.models import ExternalIdentity
from crm.services.contacts import contact_create, contact_update
from crm.sync.conflict import conflict_policy_set
from crm.sync.models import SyncConflict
from ghl_integration.sync.push import outbox_push_pending
from ghl_integration.webhooks.processing import webhook_event_process
from ghl_integration.webhooks.services import webhook_receive
from ghl_sandbox.testing import WebhookReceiver

from .conftest import LOCATION_ID, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(ghl, connected):
    with WebhookReceiver() as rx:
        ghl.control.webhooks(urls=[rx.url], retry_spacing_s=0.2)
        yield rx
    ghl.control.webhooks(urls=[])


def _inbox(ghl, receiver, *, process: bool = True) -> list[str]:
    """Every delivery so far into our inbox (then processed, unless ``process`` is False); returns statuses."""
    assert ghl.control.wait_webhooks(timeout=10)
    statuses = []
    for item in receiver.received:
        result = webhook_receive(body=item["body"], headers=item["headers"])
        assert result.status_code == 200, result.data
        if result.data.get("status") == "accepted" and process:
            statuses.append(webhook_event_process(event_id=result.data["id"]).status)
    receiver.received.clear()
    return statuses


def _contact_reads(ghl, ghl_id: str) -> int:
    return len(ghl.control.request_log(method="GET", path=f"/contacts/{ghl_id}"))


def _contact_puts(ghl, ghl_id: str) -> int:
    return len(ghl.control.request_log(method="PUT", path=f"/contacts/{ghl_id}"))


def _pushed_and_echoed(ghl, connected, receiver):
    """A contact created here, pushed, and the echo of the push back through the inbox."""
    contact = contact_create(organization=connected.organization, first_name="Base", last_name="Line",
                             email="rbw@example.com")
    outbox_push_pending(connection_id=connected.pk)
    _inbox(ghl, receiver)
    link = ExternalIdentity.objects.get(object_id=contact.pk, account_id=LOCATION_ID)
    assert link.remote_seen_at is not None  # the echo confirmed GHL's state as we hold it
    ghl.control.clear_request_log()
    return contact, link.external_id


def test_an_update_after_the_echo_came_back_is_one_put_without_a_read(ghl, connected, receiver):
    contact, ghl_id = _pushed_and_echoed(ghl, connected, receiver)

    contact_update(contact=contact, first_name="Second")
    outbox_push_pending(connection_id=connected.pk)

    assert (_contact_reads(ghl, ghl_id), _contact_puts(ghl, ghl_id)) == (0, 1)
    assert ghl_contact(ghl, ghl_id)["firstName"] == "Second"
    # until this push's echo returns, the next update reads first; after it, not again
    link = ExternalIdentity.objects.get(object_id=contact.pk, account_id=LOCATION_ID)
    assert link.remote_seen_at is None
    _inbox(ghl, receiver)
    contact_update(contact=contact, first_name="Third")
    outbox_push_pending(connection_id=connected.pk)
    assert (_contact_reads(ghl, ghl_id), _contact_puts(ghl, ghl_id)) == (0, 2)


def test_a_ghl_change_applied_from_its_webhook_needs_no_read_either(ghl, connected, receiver):
    contact, ghl_id = _pushed_and_echoed(ghl, connected, receiver)
    ghl.control.change_contact("update", contactId=ghl_id, city="Lyon")
    assert _inbox(ghl, receiver) == ["processed"]
    ghl.control.clear_request_log()

    contact.refresh_from_db()
    contact_update(contact=contact, first_name="Mine")
    outbox_push_pending(connection_id=connected.pk)

    assert (_contact_reads(ghl, ghl_id), _contact_puts(ghl, ghl_id)) == (0, 1)
    remote = ghl_contact(ghl, ghl_id)
    assert (remote["firstName"], remote["city"]) == ("Mine", "Lyon")
    assert not SyncConflict.objects.exists()


def test_a_ghl_change_whose_webhook_waits_in_the_inbox_is_read_first_and_the_conflict_decided(
        ghl, connected, receiver):
    contact, ghl_id = _pushed_and_echoed(ghl, connected, receiver)
    conflict_policy_set(organization=connected.organization, provider="ghl", account_id=LOCATION_ID, field="*",
                        policy="remote_wins")
    # given: GHL changed the name; its webhook is in our inbox, not processed yet
    ghl.control.change_contact("update", contactId=ghl_id, firstName="FromGhl")
    _inbox(ghl, receiver, process=False)
    ghl.control.clear_request_log()

    contact_update(contact=contact, first_name="FromHere", city="Paris")
    outbox_push_pending(connection_id=connected.pk)

    assert _contact_reads(ghl, ghl_id) == 1
    remote = ghl_contact(ghl, ghl_id)
    assert (remote["firstName"], remote["city"]) == ("FromGhl", "Paris")  # GHL's name kept, the city sent
    contact.refresh_from_db()
    assert contact.first_name == "FromGhl"
    conflict = SyncConflict.objects.get()
    assert (conflict.field, conflict.local_value, conflict.remote_value, conflict.decision) == (
        "first_name", "FromHere", "FromGhl", "remote")


def test_with_local_wins_for_every_field_no_read_is_needed(ghl, connected):
    # no webhooks reach us at all: GHL's state is unknown, but the policy does not ask for it
    contact = contact_create(organization=connected.organization, first_name="Base", email="lw@example.com")
    outbox_push_pending(connection_id=connected.pk)
    ghl_id = ExternalIdentity.objects.get(object_id=contact.pk).external_id
    conflict_policy_set(organization=connected.organization, provider="ghl", account_id=LOCATION_ID, field="*",
                        policy="local_wins")
    ghl.control.change_contact("update", contactId=ghl_id, firstName="FromGhl")
    ghl.control.clear_request_log()

    contact_update(contact=contact, first_name="FromHere")
    outbox_push_pending(connection_id=connected.pk)

    assert (_contact_reads(ghl, ghl_id), _contact_puts(ghl, ghl_id)) == (0, 1)
    assert ghl_contact(ghl, ghl_id)["firstName"] == "FromHere"


def test_a_ghl_edit_the_put_reveals_on_another_field_is_taken_here(ghl, connected):
    # given: GHL changed the city; its webhook never reached us (the name's policy lets us write blind)
    contact = contact_create(organization=connected.organization, first_name="Base", city="Rome",
                             email="reveal@example.com")
    outbox_push_pending(connection_id=connected.pk)
    ghl_id = ExternalIdentity.objects.get(object_id=contact.pk).external_id
    conflict_policy_set(organization=connected.organization, provider="ghl", account_id=LOCATION_ID,
                        field="first_name", policy="local_wins")
    ghl.control.change_contact("update", contactId=ghl_id, city="Lyon")
    ghl.control.clear_request_log()

    # when: only the name is pushed, with no read first
    contact_update(contact=contact, first_name="Mine")
    outbox_push_pending(connection_id=connected.pk)

    # then: the PUT's answer showed GHL's city, which nobody changed here: it is taken, not lost
    assert _contact_reads(ghl, ghl_id) == 0
    contact.refresh_from_db()
    assert (contact.first_name, contact.city) == ("Mine", "Lyon")
    assert ghl_contact(ghl, ghl_id)["city"] == "Lyon"
    link = ExternalIdentity.objects.get(object_id=contact.pk)
    assert link.synced_snapshot["city"] == "Lyon"


def test_tags_added_without_a_read_are_the_base_of_the_next_removal(ghl, connected):
    # given a contact pushed, then tagged here twice with no read of GHL (nothing to decide: tags are a diff)
    contact = contact_create(organization=connected.organization, first_name="Tag", email="tags-rbw@example.com")
    outbox_push_pending(connection_id=connected.pk)
    ghl_id = ExternalIdentity.objects.get(object_id=contact.pk, account_id=LOCATION_ID).external_id
    contact_update(contact=contact, tags=["vip", "newsletter"])
    outbox_push_pending(connection_id=connected.pk)
    ghl.control.clear_request_log()
    # when one tag is removed here
    contact_update(contact=contact, tags=["newsletter"])
    outbox_push_pending(connection_id=connected.pk)
    # then GHL is told to remove it, and holds only the other
    assert [r["method"] for r in ghl.control.request_log(path=f"/contacts/{ghl_id}/tags")] == ["DELETE"]
    assert ghl_contact(ghl, ghl_id)["tags"] == ["newsletter"]


def test_after_a_reconnect_a_push_reads_ghl_first_its_webhooks_meanwhile_were_skipped(ghl, connected, receiver,
                                                                                      owner):
    from ghl_integration.connections import connection_disconnect
    from tests.factories import sandbox_connect

    # given: GHL's state confirmed by the echo, then an edit here still waiting when the owner disconnected
    contact, ghl_id = _pushed_and_echoed(ghl, connected, receiver)
    contact_update(contact=contact, first_name="FromHere")
    connection_disconnect(connection=connected)
    # and: while disconnected, GHL changes the same name; its webhook reaches us but is not applied
    ghl.control.change_contact("update", contactId=ghl_id, firstName="FromGhl")
    assert _inbox(ghl, receiver) == ["skipped"]
    ghl.control.clear_request_log()

    # when: the owner connects again and the waiting push goes
    sandbox_connect(ghl, organization=connected.organization, user=owner, location_id=LOCATION_ID)
    outbox_push_pending(connection_id=connected.pk)

    # then: GHL was read first, and its newer name kept as the policy (newest wins) says, with the conflict
    assert (_contact_reads(ghl, ghl_id), _contact_puts(ghl, ghl_id)) == (1, 0)
    assert ghl_contact(ghl, ghl_id)["firstName"] == "FromGhl"
    contact.refresh_from_db()
    assert contact.first_name == "FromGhl"
    conflict = SyncConflict.objects.get()
    assert (conflict.field, conflict.local_value, conflict.remote_value, conflict.decision) == (
        "first_name", "FromHere", "FromGhl", "remote")
