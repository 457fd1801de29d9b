"""Each kind has its own outbound switch (the settings page's “Changes made here → GoHighLevel”): deals can stay
here while contacts still go to GHL and the other way round; what changed while a kind was off is sent when it is
switched on again; the reconciliation does not send a kind that is off. Against the sandbox over HTTP."""
import datetime as dt

import pytest
from django.urls import reverse

from crm.models import PipelineStage
from crm.selectors.external_ids import external_id_for_object
from crm.services.contacts import contact_update
from crm.services.opportunities import opportunity_change
from crm.sync.models import OutboxEntry
from ghl_integration.models import GhlConnection
from ghl_integration.opportunities.sync import opportunities_pull, opportunities_reconcile
from ghl_integration.sync.push import outbox_push_pending
from tests.factories import MembershipFactory, UserFactory

from .conftest import LOCATION, make_deal
from .test_inbound import local

pytestmark = pytest.mark.django_db


@pytest.fixture
def pulled(ghl, org, connection):
    deal = make_deal(ghl, name="Acme deal", value=12500)
    opportunities_pull(connection=connection)
    return deal


@pytest.fixture
def manager(client, org):
    client.force_login(org.memberships.get().user)
    return client


def switches_url(org) -> str:
    return reverse("ghl_outbound_switches", kwargs={"org_id": org.pk})


def stage_id_in_ghl(ghl, deal_id: str) -> str:
    return ghl.control.objects("opportunity", deal_id)["pipelineStageId"]


def move(org, deal_id: str, stage: str):
    opportunity_change(opportunity=local(deal_id), stage=PipelineStage.objects.for_org(org).get(name=stage))


def ghl_id_of(org, stage: str) -> str:
    return external_id_for_object(obj=PipelineStage.objects.for_org(org).get(name=stage), provider="ghl",
                                  account_id=LOCATION)


def test_deals_switched_off_stay_here_while_contacts_still_go_to_ghl(ghl, org, connection, pulled, manager):
    # when: the owner switches opportunities off and leaves contacts on
    response = manager.post(switches_url(org), {"outbound_contacts": "on"})
    assert response.status_code == 302

    move(org, pulled["id"], "Proposal Sent")
    contact = local(pulled["id"]).contact
    contact_update(contact=contact, first_name="Renamed")
    outbox_push_pending(connection_id=connection.pk)

    # then: the move stays here, the contact's edit reached GHL
    assert stage_id_in_ghl(ghl, pulled["id"]) == ghl_id_of(org, "New Lead")
    assert not OutboxEntry.objects.filter(content_type__model="opportunity").exists()
    remote_contact = ghl.control.objects("contact", external_id_for_object(obj=contact, provider="ghl",
                                                                           account_id=LOCATION))
    assert remote_contact["firstName"] == "Renamed"
    # and the page shows it
    html = manager.get(reverse("ghl_settings", kwargs={"org_id": org.pk})).content.decode()
    assert '<input type="checkbox" name="outbound_contacts" id="outbound_contacts" checked>' in html
    assert '<input type="checkbox" name="outbound_opportunities" id="outbound_opportunities">' in html


def test_deals_still_go_to_ghl_with_contacts_switched_off(ghl, org, connection, pulled, manager):
    manager.post(switches_url(org), {"outbound_opportunities": "on"})

    move(org, pulled["id"], "Proposal Sent")
    outbox_push_pending(connection_id=connection.pk)

    assert stage_id_in_ghl(ghl, pulled["id"]) == ghl_id_of(org, "Proposal Sent")
    assert GhlConnection.objects.get(pk=connection.pk).config["outbound_contacts"] is False


def test_what_changed_while_off_is_sent_when_switched_on_and_not_by_the_reconciliation(ghl, org, connection, pulled,
                                                                                       manager):
    # given: deals switched off, a move made here
    manager.post(switches_url(org), {"outbound_contacts": "on"})
    move(org, pulled["id"], "Proposal Sent")

    # when: the reconciliation runs while it is off
    GhlConnection.objects.filter(pk=connection.pk).update(last_synced_at=dt.datetime.now(dt.UTC))
    opportunities_reconcile(connection=GhlConnection.objects.get(pk=connection.pk))
    outbox_push_pending(connection_id=connection.pk)
    # then: it does not send it
    assert stage_id_in_ghl(ghl, pulled["id"]) == ghl_id_of(org, "New Lead")
    assert local(pulled["id"]).stage.name == "Proposal Sent"

    # when: switched on again
    response = manager.post(switches_url(org), {"outbound_contacts": "on", "outbound_opportunities": "on"})
    outbox_push_pending(connection_id=connection.pk)

    # then: the move made meanwhile reaches GHL
    assert response.status_code == 302
    assert stage_id_in_ghl(ghl, pulled["id"]) == ghl_id_of(org, "Proposal Sent")


def test_a_member_who_is_not_a_manager_cannot_switch_them(org, connection, client):
    member = UserFactory()
    MembershipFactory(user=member, organization=org, role="member")
    client.force_login(member)

    response = client.post(switches_url(org), {})

    assert response.status_code in (302, 403)
    config = GhlConnection.objects.get(pk=connection.pk).config
    assert config.get("outbound_contacts", True) and config.get("outbound_opportunities", True)
