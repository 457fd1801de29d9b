"""Each kind's GHL half is one declaration in its own package (`<kind>/kind.py`), registered in one place
(`ghl_integration/sync/registry.py`): what the push worker, the sync targets, the webhook dispatcher, the connect
signal and the beat run is what the kinds declare, nothing more and nothing less."""
import pytest

from config.celery import app
from crm.sync.targets import sync_targets_for
from ghl_integration.management.commands.setup_periodic_tasks import INTERVALS, SCHEDULES
from ghl_integration.signals import connection_connected
from ghl_integration.sync.push import pushers_by_content_type
from ghl_integration.sync.registry import GHL_KINDS, ghl_kind_named, ghl_kinds_register
from ghl_integration.webhooks import dispatch
from ghl_integration.webhooks.handlers import app_lifecycle
from tests.factories import GhlConnectionFactory

KIND_NAMES = [kind.name for kind in GHL_KINDS]


def test_the_kinds_are_contacts_opportunities_appointments_and_messages_each_declared_in_its_own_package():
    from ghl_integration.calendars.kind import APPOINTMENTS
    from ghl_integration.contacts.kind import CONTACTS
    from ghl_integration.conversations.kind import MESSAGES
    from ghl_integration.opportunities.kind import OPPORTUNITIES

    assert GHL_KINDS == (CONTACTS, OPPORTUNITIES, APPOINTMENTS, MESSAGES)
    assert KIND_NAMES == ["contact", "opportunity", "appointment", "message"]
    assert ghl_kind_named("opportunity").pull.name == "ghl_integration.opportunities.pull"
    with pytest.raises(LookupError, match="known: contact, opportunity"):
        ghl_kind_named("invoice")


@pytest.mark.django_db
def test_the_push_worker_pushes_exactly_the_kinds_that_declare_a_pusher():
    assert set(pushers_by_content_type().values()) == {kind.pusher for kind in GHL_KINDS if kind.pusher}
    assert {kind.name for kind in GHL_KINDS if kind.pusher} == {"contact", "opportunity", "appointment"}


@pytest.mark.django_db
@pytest.mark.parametrize("name", KIND_NAMES)
def test_local_changes_go_to_ghl_for_the_kinds_that_declare_targets(name):
    connection = GhlConnectionFactory()
    expected = [("ghl", connection.location_id)] if ghl_kind_named(name).sync_targets else []
    assert sync_targets_for(connection.organization_id, object_type=name) == expected


def test_the_webhook_dispatcher_handles_the_kinds_families_and_the_app_lifecycle():
    families = [kind.webhooks for kind in GHL_KINDS if kind.webhooks]
    assert dispatch.FAMILY_REGISTRIES == (*families, app_lifecycle.registry)
    declared = {event for family in families for event in family.handlers} | set(app_lifecycle.registry.handlers)
    assert set(dispatch.EVENT_HANDLERS) == declared
    assert {"ContactUpdate", "OpportunityStatusUpdate", "AppointmentCreate", "InboundMessage"} <= declared


def test_on_connect_each_kind_reacts_in_order_and_the_push_of_what_waited_comes_after_the_contact_pull():
    uids = [key[0] for key, _receiver, _is_async in connection_connected.receivers]
    ours = [kind.dispatch_uid for kind in GHL_KINDS if kind.on_connected]
    assert ours == ["ghl.contact.on-connected", "ghl.opportunity.on-connected", "ghl.appointment.on-connected"]
    assert [uid for uid in uids if uid in ours] == ours
    assert uids.index("ghl.contact.on-connected") < uids.index("ghl.sync.outbox-on-connected")


def test_every_pull_and_reconciliation_a_kind_declares_is_a_task_and_the_beat_schedules_its_reconciliation():
    scheduled = {task for _name, task, *_ in SCHEDULES} | {task for _name, task, _every in INTERVALS}
    for kind in GHL_KINDS:
        for task in (kind.pull, *kind.reconcile):
            if task is not None:
                assert task.name in app.tasks
        assert {task.name for task in kind.reconcile} <= scheduled, kind.name


def test_registering_the_kinds_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        ghl_kinds_register()
