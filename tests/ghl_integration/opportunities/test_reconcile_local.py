"""Reconciliation re-queues local opportunity edits that never reached the outbox (a crash between the write
and its entry), as the contact reconciliation does for contacts; against the sandbox over HTTP."""
import pytest
from django.utils import timezone

from crm.models import Contact, Opportunity, Pipeline
from crm.selectors.external_ids import local_object_for_external_id
from crm.services.opportunities import opportunity_open
from crm.sync.models import OutboxEntry
from ghl_integration.contacts.inbound import contact_apply_ghl_event
from ghl_integration.opportunities.sync import opportunities_pull, opportunities_reconcile
from ghl_integration.sync.push import outbox_push_pending

from .conftest import LOCATION, make_deal
from .test_inbound import local

pytestmark = pytest.mark.django_db


def entries(opp) -> list[OutboxEntry]:
    return list(OutboxEntry.objects.filter(object_id=opp.pk, content_type__model="opportunity"))


@pytest.fixture
def pulled(ghl, org, connection):
    deal = make_deal(ghl, name="Acme deal", value=12500)
    opportunities_pull(connection=connection)
    return deal


def test_a_clean_reconciliation_queues_nothing(ghl, org, connection, pulled):
    result = opportunities_reconcile(connection=connection)

    assert result.run.cursor["queued_local"] == 0
    assert entries(local(pulled["id"])) == []


def test_an_edit_whose_entry_was_lost_reaches_ghl_without_undoing_ghls_own_change(ghl, org, connection, pulled):
    # given: the value changed here but the process died before its outbox entry was written; meanwhile
    # someone renamed the deal in GHL (its webhook missed)
    opp = local(pulled["id"])
    Opportunity.objects.filter(pk=opp.pk).update(monetary_value=15000, updated_at=timezone.now())
    ghl.control.change("opportunity.update", opportunityId=pulled["id"], name="Acme deal (2 sites)")

    # when
    result = opportunities_reconcile(connection=connection)
    outbox_push_pending(connection_id=connection.pk)

    # then: GHL's rename came in, our value went out
    assert result.run.cursor["queued_local"] == 1
    remote = ghl.control.objects("opportunity", pulled["id"])
    opp.refresh_from_db()
    assert (remote["monetaryValue"], remote["name"]) == (15000, "Acme deal (2 sites)")
    assert opp.name == "Acme deal (2 sites)" and entries(opp)[-1].status == "done"
    # and once pushed it is not queued again
    assert opportunities_reconcile(connection=connection).run.cursor["queued_local"] == 0


def test_a_deal_made_here_whose_entry_was_lost_is_created_in_ghl(ghl, org, connection, pulled):
    remote_contact = ghl.control.objects("contact", location_id=LOCATION)[3]
    contact_apply_ghl_event(connection=connection, payload=remote_contact, delivered_at=None)
    contact = local_object_for_external_id(model=Contact, provider="ghl", account_id=LOCATION,
                                           external_id=remote_contact["id"])
    opp = opportunity_open(organization=org, name="Brand new deal", contact=contact,
                           pipeline=Pipeline.objects.for_org(org).get(), monetary_value=900)
    OutboxEntry.objects.filter(object_id=opp.pk, content_type__model="opportunity").delete()

    result = opportunities_reconcile(connection=connection)
    outbox_push_pending(connection_id=connection.pk)

    assert result.run.cursor["queued_local"] == 1
    made = [o for o in ghl.control.objects("opportunity", location_id=LOCATION) if o["name"] == "Brand new deal"]
    assert len(made) == 1 and made[0]["monetaryValue"] == 900


def test_a_deal_with_an_open_entry_or_archived_is_left_alone(ghl, org, connection, pulled):
    from crm.services.opportunities import opportunity_change

    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, monetary_value=16000)  # its entry is pending
    other = make_deal(ghl, name="Gone deal", contact=1)
    opportunities_reconcile(connection=connection)
    Opportunity.objects.filter(pk=local(other["id"]).pk).update(is_archived=True, updated_at=timezone.now())

    result = opportunities_reconcile(connection=connection)

    assert result.run.cursor["queued_local"] == 0
    assert len(entries(opp)) == 1 and entries(local(other["id"])) == []


def test_deal_edits_made_while_disconnected_reach_ghl_after_the_reconnects_pull(ghl, org, connection, pulled):
    from crm.services.opportunities import opportunity_change
    from ghl_integration.connections import connection_disconnect
    from tests.factories import sandbox_connect

    # given: the location disconnected; a deal's value changed here (no entry: the connection is inactive),
    # and its name in GHL
    connection_disconnect(connection=connection)
    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, monetary_value=15000)
    assert entries(opp) == []
    ghl.control.change("opportunity.update", opportunityId=pulled["id"], name="Acme deal (2 sites)")

    # when: connected again, the pull it queues runs, then the push worker
    again = sandbox_connect(ghl, organization=org, location_id=LOCATION)
    result = opportunities_pull(connection=again)
    outbox_push_pending(connection_id=again.pk)

    # then: both changes are on both sides, each sent once
    remote = ghl.control.objects("opportunity", pulled["id"])
    opp.refresh_from_db()
    assert (remote["monetaryValue"], remote["name"]) == (15000, "Acme deal (2 sites)")
    assert (opp.monetary_value, opp.name) == (15000, "Acme deal (2 sites)")
    assert result.run.cursor["queued_local"] == 1
    assert [e.status for e in entries(opp)] == ["done"]
    assert opportunities_reconcile(connection=again).run.cursor["queued_local"] == 0
