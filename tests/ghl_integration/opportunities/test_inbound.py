"""Opportunities and pipelines from GHL, against the sandbox over HTTP: pull, webhooks (bursts, any order,
stale, delete), pipelines renamed / removed / reordered, reconciliation and the deletion sweep."""
from decimal import Decimal

import pytest

from crm.events import OPPORTUNITY_STAGE_CHANGED, OPPORTUNITY_STATUS_CHANGED
from crm.models import Contact, CrmUser, LostReason, Opportunity, Pipeline, PipelineStage
from crm.selectors.external_ids import local_object_for_external_id
from crm.sync.models import SyncRun
from ghl_integration.installation import GhlInstallation
from ghl_integration.opportunities.inbound import OpportunityResolver, opportunity_apply_ghl
from ghl_integration.opportunities.sync import opportunities_deletion_sweep, opportunities_pull, opportunities_reconcile
from ghl_sandbox import constants as sbx
from tests.ghl_integration.contacts.conftest import deliver

from .conftest import LOCATION, PIPELINE, make_deal, stages, wait_received

pytestmark = pytest.mark.django_db


def local(external_id: str) -> Opportunity:
    return local_object_for_external_id(model=Opportunity, provider="ghl", account_id=LOCATION,
                                        external_id=external_id)


def stage_names(org) -> list[tuple[str, bool]]:
    pipeline = Pipeline.objects.for_org(org).get()
    return list(pipeline.stages.order_by("position").values_list("name", "is_archived"))


def test_pull_mirrors_pipelines_users_lost_reasons_and_deals(ghl, org, connection):
    # given: two deals in GHL, one assigned and lost with a reason, one with a custom field
    users = ghl.control.objects("user")
    reasons = ghl.control.objects("lostReason", location_id=LOCATION)
    field_id = next(f["id"] for f in ghl.control.objects("customField", location_id=LOCATION)
                    if f["fieldKey"] == "opportunity.treatment_interest")
    won = make_deal(ghl, name="Acme deal", contact=0, stage=2, value=12500.5, assignedTo=users[0]["id"],
                    customFields=[{"id": field_id, "field_value": "implants"}])
    lost = make_deal(ghl, name="Lopez smile", contact=1, stage=1, value=4800)
    ghl.control.change("opportunity.update", opportunityId=lost["id"], status="lost",
                       lostReasonId=reasons[0]["id"])

    # when
    result = opportunities_pull(connection=connection)

    # then: the pipeline's stages in GHL's order, the users and reasons by name, the deals resolved
    assert result.run.status == "succeeded" and result.run.object_type == "opportunity"
    assert stage_names(org) == [("New Lead", False), ("Contacted", False), ("Proposal Sent", False), ("Won", False)]
    assert CrmUser.objects.for_org(org).count() == len([u for u in users if LOCATION in u["roles"]["locationIds"]])
    assert set(LostReason.objects.for_org(org).values_list("name", flat=True)) == {r["name"] for r in reasons}
    acme = local(won["id"])
    assert (acme.name, acme.stage.name, acme.status, acme.monetary_value) == (
        "Acme deal", "Proposal Sent", "open", Decimal("12500.50"))
    assert acme.assignee.name == users[0]["name"]
    assert acme.custom_properties == {"treatment_interest": "implants"}
    assert acme.contact is not None and Contact.objects.for_org(org).filter(pk=acme.contact_id).exists()
    lopez = local(lost["id"])
    assert (lopez.status, lopez.lost_reason.name) == ("lost", reasons[0]["name"])
    assert result.run.created == 2 and result.run.cursor["requests"] >= 2


def test_a_stage_move_in_ghl_appears_here_and_is_announced_once(ghl, org, connection, receiver, announced,
                                                                 django_capture_on_commit_callbacks):
    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    receiver.received.clear()

    ghl.control.change("opportunity.update", opportunityId=deal["id"], pipelineStageId=stages(ghl)[2]["id"])
    received = wait_received(receiver, 2)  # OpportunityStageUpdate and the generic OpportunityUpdate
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(received) == ["processed", "processed"]

    assert local(deal["id"]).stage.name == "Proposal Sent"
    moves = [data for event, data in announced if event == OPPORTUNITY_STAGE_CHANGED]
    assert len(moves) == 1 and (moves[0]["from_stage"], moves[0]["to_stage"]) == ("New Lead", "Proposal Sent")


@pytest.mark.parametrize("order", ["as_sent", "reversed"])
def test_a_burst_for_one_edit_applies_once_in_any_order(ghl, org, connection, receiver, announced, order,
                                                        django_capture_on_commit_callbacks):
    # given
    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    receiver.received.clear()

    # when: one edit in GHL changes stage, status, value and assignee: five events
    user = ghl.control.objects("user")[1]
    ghl.control.change("opportunity.update", opportunityId=deal["id"], pipelineStageId=stages(ghl)[3]["id"],
                       status="won", monetaryValue=15000, assignedTo=user["id"])
    received = wait_received(receiver, 5)
    assert {r["json"]["type"] for r in received} == {
        "OpportunityUpdate", "OpportunityStageUpdate", "OpportunityStatusUpdate", "OpportunityMonetaryValueUpdate",
        "OpportunityAssignedToUpdate"}
    ghl.control.clear_request_log()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(received if order == "as_sent" else received[::-1])

    # then: the one change, announced once per kind
    opp = local(deal["id"])
    assert (opp.stage.name, opp.status, opp.monetary_value, opp.assignee.name) == (
        "Won", "won", Decimal("15000.00"), user["name"])
    assert [e for e, _ in announced].count(OPPORTUNITY_STAGE_CHANGED) == 1
    assert [e for e, _ in announced].count(OPPORTUNITY_STATUS_CHANGED) == 1
    # the first event read the deal; the others repeat that state and are known without a read
    assert len(ghl.control.request_log(path=f"/opportunities/{deal['id']}")) == 1


def test_an_older_state_arriving_late_is_dropped(ghl, org, connection):
    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    old = ghl.control.objects("opportunity", deal["id"])
    ghl.control.change("opportunity.update", opportunityId=deal["id"], monetaryValue=99)
    opportunities_reconcile(connection=connection)
    assert local(deal["id"]).monetary_value == Decimal("99.00")

    with GhlInstallation(connection).get_client() as client:
        resolver = OpportunityResolver(connection, client)
        outcome = opportunity_apply_ghl(connection=connection, doc=old, resolver=resolver)

    assert outcome.outcome == "stale" and local(deal["id"]).monetary_value == Decimal("99.00")


def test_deleted_in_ghl_is_archived_here(ghl, org, connection, receiver):
    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    receiver.received.clear()

    ghl.control.change("opportunity.delete", opportunityId=deal["id"])
    deliver(wait_received(receiver, 1, type_="OpportunityDelete"))

    opp = local(deal["id"])
    assert opp.is_archived and opp.stage.name == "New Lead"  # kept, with where it was


def test_stage_renamed_removed_and_reordered_in_ghl(ghl, org, connection):
    # given: a deal in "Contacted"
    deal = make_deal(ghl, stage=1)
    opportunities_pull(connection=connection)
    new_lead, contacted, proposal, won = stages(ghl)

    # when: in GHL "Proposal Sent" is renamed and moved first, "Contacted" removed, a stage added
    ghl.control.change("pipeline.update", pipelineId=PIPELINE, stages=[
        {"id": proposal["id"], "name": "Proposal"}, {"id": new_lead["id"], "name": "New Lead"}, "Negotiation",
        {"id": won["id"], "name": "Won"}])
    run = opportunities_reconcile(connection=connection).run

    # then
    assert run.status == "succeeded"
    assert stage_names(org) == [("Proposal", False), ("New Lead", False), ("Negotiation", False), ("Won", False),
                                ("Contacted", True)]
    opp = local(deal["id"])
    assert opp.stage.name == "Contacted" and opp.stage.is_archived and not opp.is_archived
    renamed = local_object_for_external_id(model=PipelineStage, provider="ghl", account_id=LOCATION,
                                           external_id=proposal["id"])
    assert renamed.name == "Proposal" and renamed.position == 0

    # and a reorder back is applied without tripping the position constraint
    ghl.control.change("pipeline.update", pipelineId=PIPELINE, stages=[
        {"id": new_lead["id"], "name": "New Lead"}, {"id": proposal["id"], "name": "Proposal Sent"}])
    opportunities_reconcile(connection=connection)
    assert stage_names(org)[:2] == [("New Lead", False), ("Proposal Sent", False)]
    assert [archived for _, archived in stage_names(org)] == [False, False, True, True, True]


def test_a_deal_in_a_stage_added_in_ghl_refreshes_the_mirror(ghl, org, connection, receiver):
    opportunities_pull(connection=connection)
    pipeline = ghl.control.objects("pipeline", PIPELINE)
    ghl.control.change("pipeline.update", pipelineId=PIPELINE,
                       stages=[*({"id": s["id"], "name": s["name"]} for s in pipeline["stages"]), "Nurture"])
    receiver.received.clear()

    deal = make_deal(ghl, stage=4)
    deliver(wait_received(receiver, 1))

    assert local(deal["id"]).stage.name == "Nurture"


def test_reconcile_repairs_a_missed_webhook_and_the_sweep_archives_what_ghl_deleted(ghl, org, connection):
    # given: two deals pulled, then changes in GHL whose webhooks never arrive (no receiver)
    keep, gone = make_deal(ghl, name="Keep"), make_deal(ghl, name="Gone", contact=1)
    opportunities_pull(connection=connection)
    ghl.control.change("opportunity.update", opportunityId=keep["id"], status="won")
    ghl.control.change("opportunity.delete", opportunityId=gone["id"])

    # when
    reconcile = opportunities_reconcile(connection=connection)
    sweep = opportunities_deletion_sweep(connection=connection)

    # then: the change repaired, the deletion archived, each run's cost in its log
    assert local(keep["id"]).status == "won" and not local(keep["id"]).is_archived
    assert local(gone["id"]).is_archived
    assert reconcile.run.updated == 1 and reconcile.run.cursor["requests"] >= 5
    assert sweep.run.kind == SyncRun.Kind.DELETION_SWEEP and sweep.run.archived == 1
    assert sweep.run.cursor["requests"] == 1 and sweep.run.status == "succeeded"


def test_the_sweep_archives_nothing_from_an_incomplete_listing(ghl, org, connection, monkeypatch):
    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    from ghl_integration.client.opportunities import OpportunitiesApi

    real = OpportunitiesApi.search

    def truncated(self, **kwargs):
        page = real(self, **kwargs)
        return {**page, "opportunities": [], "meta": {**page["meta"], "total": 1}}

    monkeypatch.setattr(OpportunitiesApi, "search", truncated)
    sweep = opportunities_deletion_sweep(connection=connection)

    assert sweep.run.status == "failed" and not local(deal["id"]).is_archived


def test_connecting_queues_the_pull(ghl, org, settings, django_capture_on_commit_callbacks, monkeypatch):
    settings.GHL_SYNC_PULL_ON_CONNECT = True
    queued = []
    monkeypatch.setattr("ghl_integration.opportunities.tasks.opportunities_pull_task.delay", queued.append)
    monkeypatch.setattr("ghl_integration.contacts.services.contacts_initial_pull_queue", lambda **kw: None)
    from tests.factories import sandbox_connect

    with django_capture_on_commit_callbacks(execute=True):
        connection = sandbox_connect(ghl, organization=org, location_id=sbx.DEMO_LOCATION_ID)

    assert queued == [connection.pk]


@pytest.fixture
def queued_confirms(monkeypatch):
    """The confirmation reads queued for a worker: [(args, countdown)]; `run_confirms` runs them as it would."""
    from ghl_integration.opportunities import tasks

    queued: list[tuple[tuple, float]] = []
    monkeypatch.setattr(tasks.opportunity_confirm_task, "apply_async",
                        lambda args, countdown=None, **kw: queued.append((tuple(args), countdown)))
    return queued


def run_confirms(queued) -> list[str]:
    from ghl_integration.opportunities.tasks import opportunity_confirm_task

    outcomes = [opportunity_confirm_task.run(*args) for args, _ in queued]
    queued.clear()
    return outcomes


def test_an_edit_the_event_summary_cannot_show_arrives_within_seconds_of_the_last_one(
        ghl, org, connection, receiver, queued_confirms, django_capture_on_commit_callbacks):
    # given: a stage move in GHL applied a moment ago, so the deal's next events fall in the echo window
    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    receiver.received.clear()
    ghl.control.change("opportunity.update", opportunityId=deal["id"], pipelineStageId=stages(ghl)[1]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wait_received(receiver, 2))
    run_confirms(queued_confirms)
    receiver.received.clear()

    # when: a second edit in GHL that only marks it lost... then one that only changes the lost reason
    reasons = ghl.control.objects("lostReason", location_id=LOCATION)
    ghl.control.change("opportunity.update", opportunityId=deal["id"], status="lost", lostReasonId=reasons[0]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wait_received(receiver, 2))
    assert local(deal["id"]).lost_reason.name == reasons[0]["name"]
    receiver.received.clear()
    ghl.control.change("opportunity.update", opportunityId=deal["id"], lostReasonId=reasons[1]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wait_received(receiver, 1))

    # then: one read is queued seconds later for the whole burst, and it brings the new reason
    assert len(queued_confirms) == 1 and queued_confirms[0][1] <= 5
    assert run_confirms(queued_confirms) == ["updated"]
    assert local(deal["id"]).lost_reason.name == reasons[1]["name"]


def test_the_rest_of_a_burst_and_our_own_pushs_echoes_cost_no_further_read(
        ghl, org, connection, receiver, queued_confirms, django_capture_on_commit_callbacks):
    from crm.services.opportunities import opportunity_change
    from ghl_integration.sync.push import outbox_push_pending

    deal = make_deal(ghl)
    opportunities_pull(connection=connection)
    receiver.received.clear()

    # a GHL edit's burst: its events were sent before the first one's read, which saw the whole edit
    ghl.control.change("opportunity.update", opportunityId=deal["id"], pipelineStageId=stages(ghl)[1]["id"],
                       monetaryValue=777)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wait_received(receiver, 3))
    assert queued_confirms == []

    # our own push: its echoes were sent before its read back
    receiver.received.clear()
    opportunity_change(opportunity=local(deal["id"]), stage=PipelineStage.objects.for_org(org).get(name="Won"))
    outbox_push_pending(connection_id=connection.pk)
    ghl.control.clear_request_log()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(wait_received(receiver, 2))
    assert queued_confirms == [] and ghl.control.request_log(path=f"/opportunities/{deal['id']}") == []
