"""Opportunity changes made here reach GHL (the sandbox, over HTTP) through the outbox and its pusher: moves,
value and status (with a lost reason), creates (idempotent after a lost answer, their echo not a second deal),
conflicts decided per field by the connection's policy."""
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import CrmUser, LostReason, Opportunity, PipelineStage
from crm.selectors.external_ids import external_id_for_object
from crm.services.opportunities import opportunity_change, opportunity_open
from crm.sync.conflict import conflict_policy_set
from crm.sync.models import OutboxEntry, SyncConflict
from ghl_integration.client.exceptions import GhlServerError
from ghl_integration.client.opportunities import OpportunitiesApi
from ghl_integration.opportunities.sync import opportunities_pull
from ghl_integration.sync.push import outbox_push_pending
from tests.ghl_integration.contacts.conftest import deliver

from .conftest import LOCATION, make_deal, wait_received
from .test_inbound import local

pytestmark = pytest.mark.django_db


def push(connection) -> dict:
    return outbox_push_pending(connection_id=connection.pk)


def stage_named(org, name: str) -> PipelineStage:
    return PipelineStage.objects.for_org(org).get(name=name, is_archived=False)


def entry_of(opp) -> OutboxEntry:
    return OutboxEntry.objects.filter(object_id=opp.pk, content_type__model="opportunity").latest("id")


@pytest.fixture
def pulled(ghl, org, connection):
    deal = make_deal(ghl, name="Acme deal", value=12500)
    opportunities_pull(connection=connection)
    return deal


def test_a_move_here_appears_in_ghl_and_its_webhooks_are_stale(ghl, org, connection, pulled, receiver):
    opp = local(pulled["id"])
    receiver.received.clear()

    changes = opportunity_change(opportunity=opp, stage=stage_named(org, "Proposal Sent"))
    counts = push(connection)

    assert {k: v.as_dict() for k, v in changes.items()} == {"stage": {"from": "New Lead", "to": "Proposal Sent"}}
    assert counts["updated"] == 1 and entry_of(opp).status == "done"
    remote = ghl.control.objects("opportunity", pulled["id"])
    assert remote["pipelineStageId"] == external_id_for_object(obj=stage_named(org, "Proposal Sent"),
                                                               provider="ghl", account_id=LOCATION)
    # GHL's webhooks about our own change bring nothing newer: recognised without reading the deal again
    received = wait_received(receiver, 2)
    ghl.control.clear_request_log()
    assert deliver(received) == ["processed", "processed"]
    assert local(pulled["id"]).stage.name == "Proposal Sent"
    assert ghl.control.request_log(path=f"/opportunities/{pulled['id']}") == []


def test_value_status_lost_reason_and_assignee_reach_ghl(ghl, org, connection, pulled):
    opp = local(pulled["id"])
    reason = LostReason.objects.for_org(org).get(name="Price too high")
    user = CrmUser.objects.for_org(org).order_by("name").first()

    opportunity_change(opportunity=opp, monetary_value="13999.90", status="lost", lost_reason=reason, assignee=user)
    push(connection)

    remote = ghl.control.objects("opportunity", pulled["id"])
    assert (remote["monetaryValue"], remote["status"]) == (13999.9, "lost")
    assert remote["lostReasonId"] == external_id_for_object(obj=reason, provider="ghl", account_id=LOCATION)
    assert remote["assignedTo"] == external_id_for_object(obj=user, provider="ghl", account_id=LOCATION)
    assert entry_of(opp).status == "done"


def test_a_deal_made_here_is_created_in_ghl_once_even_when_its_echo_comes_first(ghl, org, connection, pulled,
                                                                                receiver):
    contact = local(pulled["id"]).contact
    other = ghl.control.objects("contact", location_id=LOCATION)[3]
    from crm.models import Contact, Pipeline
    from crm.selectors.external_ids import local_object_for_external_id

    person = local_object_for_external_id(model=Contact, provider="ghl", account_id=LOCATION,
                                          external_id=other["id"])
    if person is None:  # the contact sync would have it; the pull fetched only the deals' contacts
        from ghl_integration.contacts.inbound import contact_apply_ghl_event
        from ghl_integration.installation import GhlInstallation

        with GhlInstallation(connection).get_client() as client:
            contact_apply_ghl_event(connection=connection, payload=client.contacts.get(other["id"]), delivered_at=None)
        person = local_object_for_external_id(model=Contact, provider="ghl", account_id=LOCATION,
                                              external_id=other["id"])
    assert person != contact
    receiver.received.clear()

    opp = opportunity_open(organization=org, name="Bright smile", contact=person,
                           pipeline=Pipeline.objects.for_org(org).get(), monetary_value="900")
    counts = push(connection)

    assert counts["created"] == 1
    ghl_id = external_id_for_object(obj=opp, provider="ghl", account_id=LOCATION)
    remote = ghl.control.objects("opportunity", ghl_id)
    assert (remote["name"], remote["monetaryValue"], remote["contactId"]) == ("Bright smile", 900, other["id"])
    deliver(wait_received(receiver, 1, type_="OpportunityCreate"))
    assert Opportunity.objects.for_org(org).filter(name="Bright smile").count() == 1


def test_a_create_whose_answer_was_lost_is_not_made_twice(ghl, org, connection, pulled, monkeypatch):
    opp = local(pulled["id"])
    from crm.models import Pipeline

    second = ghl.control.change("pipeline.create", locationId=LOCATION, name="Implants",
                                stages=["Consult", "Plan"])["pipeline"]
    opportunities_pull(connection=connection)
    real_create = OpportunitiesApi.create

    def create_then_lose_the_answer(self, body):
        real_create(self, body)
        raise GhlServerError("bad gateway", status=502)

    monkeypatch.setattr(OpportunitiesApi, "create", create_then_lose_the_answer)
    new = opportunity_open(organization=org, name="Implant plan", contact=opp.contact,
                           pipeline=Pipeline.objects.for_org(org).get(name="Implants"))
    assert push(connection)["failed"] == 1 and entry_of(new).status == "failed"

    monkeypatch.setattr(OpportunitiesApi, "create", real_create)
    OutboxEntry.objects.filter(pk=entry_of(new).pk).update(next_attempt_at=timezone.now())
    counts = push(connection)

    assert counts["linked"] == 1 and counts["created"] == 0
    in_ghl = [o for o in ghl.control.objects("opportunity", location_id=LOCATION) if o["pipelineId"] == second["id"]]
    assert len(in_ghl) == 1 and external_id_for_object(obj=new, provider="ghl", account_id=LOCATION) == \
        in_ghl[0]["id"]


@pytest.mark.parametrize("policy,expected_here,expected_ghl", [
    ("remote_wins", Decimal("20000.00"), 20000),
    ("local_wins", Decimal("15000.00"), 15000),
])
def test_both_sides_changed_the_value_the_policy_decides(ghl, org, connection, pulled, policy, expected_here,
                                                         expected_ghl):
    conflict_policy_set(organization=org, provider="ghl", account_id=LOCATION, field="monetary_value",
                        policy=policy, object_type="opportunity")
    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, monetary_value=15000, name="Acme deal (2 sites)")
    ghl.control.change("opportunity.update", opportunityId=pulled["id"], monetaryValue=20000)  # webhook not seen

    push(connection)

    opp.refresh_from_db()
    remote = ghl.control.objects("opportunity", pulled["id"])
    assert (opp.monetary_value, remote["monetaryValue"]) == (expected_here, expected_ghl)
    assert remote["name"] == opp.name == "Acme deal (2 sites)"  # the field only we changed went out either way
    conflict = SyncConflict.objects.get(field="monetary_value")
    assert conflict.policy == policy and entry_of(opp).status == "done"


def test_deals_follow_their_own_policy_not_the_contacts(ghl, org, connection, pulled):
    # given: contacts say "local wins" for every field, opportunities "remote wins"
    conflict_policy_set(organization=org, provider="ghl", account_id=LOCATION, field="*", policy="local_wins")
    conflict_policy_set(organization=org, provider="ghl", account_id=LOCATION, field="*", policy="remote_wins",
                        object_type="opportunity")
    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, monetary_value=15000)
    ghl.control.change("opportunity.update", opportunityId=pulled["id"], monetaryValue=20000)

    # when
    push(connection)

    # then: the opportunity policy decided
    opp.refresh_from_db()
    assert opp.monetary_value == Decimal("20000.00")
    assert ghl.control.objects("opportunity", pulled["id"])["monetaryValue"] == 20000
    assert SyncConflict.objects.get(field="monetary_value").policy == "remote_wins"


def test_a_deal_whose_contact_is_not_in_ghl_waits(ghl, org, connection, pulled):
    from crm.models import Pipeline
    from crm.services.contacts import contact_create

    newcomer = contact_create(organization=org, first_name="Newt", email="newt@example.com")
    OutboxEntry.objects.filter(object_id=newcomer.pk, content_type__model="contact").delete()  # its push not run
    opp = opportunity_open(organization=org, name="Newt deal", contact=newcomer,
                           pipeline=Pipeline.objects.for_org(org).get())
    push(connection)

    entry = entry_of(opp)
    assert entry.status == "failed" and "not in GHL yet" in entry.last_error


def test_a_card_moved_on_the_board_reaches_ghl(ghl, org, connection, pulled, client):
    from django.urls import reverse

    opp = local(pulled["id"])
    client.force_login(org.memberships.get().user)

    response = client.post(reverse("opportunity_move", kwargs={"org_id": org.pk, "opportunity_id": opp.pk}),
                           {"stage": stage_named(org, "Won").pk})
    push(connection)

    assert response.status_code == 302
    assert ghl.control.objects("opportunity", pulled["id"])["pipelineStageId"] == external_id_for_object(
        obj=stage_named(org, "Won"), provider="ghl", account_id=LOCATION)


def test_a_move_made_while_the_previous_push_is_in_flight_goes_out_after_it(ghl, org, connection, pulled,
                                                                             monkeypatch):
    opp = local(pulled["id"])
    real_update = OpportunitiesApi.update
    calls = []

    def update_while_someone_moves_it_again(self, ghl_id, body):
        result = real_update(self, ghl_id, body)
        if not calls:
            calls.append(body)
            opportunity_change(opportunity=Opportunity.objects.get(pk=opp.pk), stage=stage_named(org, "Won"))
        return result

    monkeypatch.setattr(OpportunitiesApi, "update", update_while_someone_moves_it_again)
    opportunity_change(opportunity=opp, stage=stage_named(org, "Contacted"))

    first = push(connection)

    entries = list(OutboxEntry.objects.filter(object_id=opp.pk, content_type__model="opportunity").order_by("id"))
    assert [e.status for e in entries] == ["done", "done"] and first["failed"] == 0
    assert ghl.control.objects("opportunity", pulled["id"])["pipelineStageId"] == external_id_for_object(
        obj=stage_named(org, "Won"), provider="ghl", account_id=LOCATION)


def test_staff_override_of_a_deals_conflict_sends_the_local_value(ghl, org, connection, pulled):
    from crm.sync.overrides import sync_conflict_override

    conflict_policy_set(organization=org, provider="ghl", account_id=LOCATION, field="*", policy="remote_wins",
                        object_type="opportunity")
    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, monetary_value=15000)
    ghl.control.change("opportunity.update", opportunityId=pulled["id"], monetaryValue=20000)
    push(connection)
    conflict = SyncConflict.objects.get(field="monetary_value")

    sync_conflict_override(conflict=conflict, side="local")
    push(connection)

    opp.refresh_from_db()
    assert opp.monetary_value == Decimal("15000.00")
    assert ghl.control.objects("opportunity", pulled["id"])["monetaryValue"] == 15000


def test_abandoned_here_is_abandoned_in_ghl_and_reopened_it_is_open_again(ghl, org, connection, pulled):
    opp = local(pulled["id"])

    opportunity_change(opportunity=opp, status="abandoned")
    push(connection)
    assert ghl.control.objects("opportunity", pulled["id"])["status"] == "abandoned"

    opportunity_change(opportunity=local(pulled["id"]), status="open")
    push(connection)
    assert ghl.control.objects("opportunity", pulled["id"])["status"] == "open"
    assert entry_of(opp).status == "done"
