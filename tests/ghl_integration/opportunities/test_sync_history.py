"""A deal's changes from GHL reach its sync history by each path that brings them (webhook, initial pull,
reconciliation, deletion sweep), against the sandbox over HTTP; our own push's echo records nothing; the contact's
page shows the rows by name, and never another organisation's."""
import pytest

from crm.models import Opportunity, PipelineStage
from crm.services.opportunities import opportunity_change
from crm.sync.models import RemoteChange
from ghl_integration.opportunities.sync import opportunities_deletion_sweep, opportunities_pull, opportunities_reconcile
from ghl_integration.sync.push import outbox_push_pending
from tests.factories import OrganizationFactory, sandbox_connect
from tests.ghl_integration.contacts.conftest import deliver
from tests.pages import contact_inbound_history as inbound_section

from .conftest import make_deal, stages, wait_received
from .test_inbound import local

pytestmark = pytest.mark.django_db
OTHER_LOCATION = "SbxOtherLocation0001"


def history(opp: Opportunity) -> list[tuple[str, str, dict]]:
    rows = RemoteChange.objects.filter(organization_id=opp.organization_id, content_type__model="opportunity",
                                       object_id=opp.pk).order_by("id")
    return [(row.source, row.outcome, row.changes) for row in rows]


def stage_named(org, name: str) -> PipelineStage:
    return PipelineStage.objects.for_org(org).get(name=name, is_archived=False)


def test_the_pull_and_a_webhook_stage_move_are_recorded_and_shown_on_the_contacts_page(
        ghl, org, connection, receiver, client, django_capture_on_commit_callbacks):
    # given: a deal pulled from GHL
    deal = make_deal(ghl, name="Acme deal")
    opportunities_pull(connection=connection)
    receiver.received.clear()

    # when: someone in GHL moves it; its webhooks (the stage update and the generic update) arrive
    ghl.control.change("opportunity.update", opportunityId=deal["id"], pipelineStageId=stages(ghl)[2]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(wait_received(receiver, 2)) == ["processed", "processed"]

    # then: one row per change that changed something, each with the path it came by
    opp = local(deal["id"])
    (pulled, pulled_outcome, _), moved = history(opp)
    assert (pulled, pulled_outcome) == ("pull", "created")
    assert moved == ("webhook", "updated", {"stage": [stage_named(org, "New Lead").pk,
                                                      stage_named(org, "Proposal Sent").pk]})
    section = inbound_section(client, org, opp.contact)
    assert section.count("Deal “Acme deal”") == 2, section
    assert "Stage: New Lead → Proposal Sent" in section and "Webhook" in section and "Initial pull" in section


def test_a_deletion_by_webhook_the_reconciliation_and_the_sweep_record_their_source(ghl, org, connection, receiver):
    # given: three deals pulled
    kept = make_deal(ghl, name="Kept", contact=0)
    deleted = make_deal(ghl, name="Deleted", contact=1)
    swept = make_deal(ghl, name="Swept", contact=2)
    opportunities_pull(connection=connection)
    receiver.received.clear()

    # when: GHL deletes one and its webhook arrives; the other changes reach us by no webhook at all
    ghl.control.change("opportunity.delete", opportunityId=deleted["id"])
    deliver(wait_received(receiver, 1, type_="OpportunityDelete"))
    ghl.control.webhooks(urls=[])
    ghl.control.change("opportunity.update", opportunityId=kept["id"], status="won")
    ghl.control.change("opportunity.delete", opportunityId=swept["id"])
    opportunities_reconcile(connection=connection)
    opportunities_deletion_sweep(connection=connection)

    # then
    assert history(local(deleted["id"]))[1:] == [("webhook", "archived", {"is_archived": [False, True]})]
    assert history(local(kept["id"]))[1:] == [("reconcile", "updated", {"status": ["open", "won"]})]
    assert history(local(swept["id"]))[1:] == [("sweep", "archived", {"is_archived": [False, True]})]


def test_our_own_push_and_its_echo_record_nothing(ghl, org, connection, receiver, client,
                                                   django_capture_on_commit_callbacks):
    # given: a deal pulled
    deal = make_deal(ghl, name="Acme deal")
    opportunities_pull(connection=connection)
    opp = local(deal["id"])
    before = history(opp)
    receiver.received.clear()

    # when: it is moved here, pushed to GHL, and GHL's webhooks about that change come back
    opportunity_change(opportunity=opp, stage=stage_named(org, "Proposal Sent"))
    assert outbox_push_pending(connection_id=connection.pk)["updated"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(wait_received(receiver, 2)) == ["processed", "processed"]
    opportunities_reconcile(connection=connection)

    # then: the history has only the pull; the move is not shown as a change from GHL
    assert local(deal["id"]).stage.name == "Proposal Sent"
    assert history(opp) == before and len(before) == 1
    assert "Proposal Sent" not in inbound_section(client, org, opp.contact)


def test_another_organisations_deal_changes_never_show(ghl, org, connection, receiver, client,
                                                       django_capture_on_commit_callbacks):
    # given: another organisation connected to another location, each with a deal for its first contact
    ghl.control.seed(locationId=OTHER_LOCATION, companyId=ghl.control.objects("location", connection.location_id)
                     ["companyId"], name="Other Dental", contacts=3)
    other = OrganizationFactory(name="Other Dental", owner__username="other-owner")
    other_connection = sandbox_connect(ghl, organization=other, location_id=OTHER_LOCATION)
    ours = make_deal(ghl, name="Our deal")
    other_pipeline = ghl.control.objects("pipeline", location_id=OTHER_LOCATION)[0]
    theirs = ghl.control.change(
        "opportunity.create", locationId=OTHER_LOCATION, pipelineId=other_pipeline["id"], name="Their deal",
        status="open", contactId=ghl.control.objects("contact", location_id=OTHER_LOCATION)[0]["id"],
        pipelineStageId=other_pipeline["stages"][0]["id"], monetaryValue=500)["opportunity"]
    opportunities_pull(connection=connection)
    opportunities_pull(connection=other_connection)
    receiver.received.clear()

    # when: both deals move in GHL and the webhooks arrive
    ghl.control.change("opportunity.update", opportunityId=theirs["id"], status="won")
    ghl.control.change("opportunity.update", opportunityId=ours["id"], status="lost")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wait_received(receiver, 4))

    # then: each contact page shows its own organisation's deal only
    our_opp = local(ours["id"])
    their_opp = Opportunity.objects.for_org(other).get()
    assert (our_opp.status, their_opp.status) == ("lost", "won")
    our_section = inbound_section(client, org, our_opp.contact)
    their_section = inbound_section(client, other, their_opp.contact)
    assert "Deal “Our deal”" in our_section and "Their deal" not in our_section
    assert "Deal “Their deal”" in their_section and "Our deal" not in their_section
    assert "Status: Open → Won" in their_section and "Status: Open → Won" not in our_section
