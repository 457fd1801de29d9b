"""A deal's changes from a remote in its sync history (`RemoteChange`, written by
`crm.services.opportunity_sync`): what each apply records and with which source, nothing for a state that changes
nothing, the conflicts decided, the archive and its undoing; the contact's page shows them by name, scoped to the
organization, in a bounded number of queries."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact, CrmUser, LostReason, Opportunity
from crm.services.opportunities import opportunity_change
from crm.services.opportunity_sync import (
    RemoteOpportunity,
    opportunity_apply_from_remote,
    opportunity_archive_from_remote,
)
from crm.services.pipelines import pipeline_create
from crm.sync.kinds import OPPORTUNITY
from crm.sync.models import RemoteChange
from crm.sync.targets import register_target_resolver, unregister_target_resolver
from tests.pages import contact_inbound_history as inbound_section

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def sales(org):
    pipeline = pipeline_create(organization=org, name="Sales", stage_names=["New Lead", "Proposal Sent", "Won"])
    ann = Contact.objects.create(organization=org, first_name="Ann", full_name="Ann Lee")
    return pipeline, list(pipeline.stages.order_by("position")), ann


@pytest.fixture
def deal_target():
    """Deals edited here are queued for the account (an open outbox entry: a pending local edit)."""
    register_target_resolver("test-deals", lambda organization_id: [(PROVIDER, ACCOUNT)], object_type=OPPORTUNITY)
    yield
    unregister_target_resolver("test-deals")


def remote(sales, *, at, stage=0, external_id="opp-1", **fields) -> RemoteOpportunity:
    pipeline, stages, ann = sales
    return RemoteOpportunity(**{"external_id": external_id, "name": "Acme deal", "pipeline": pipeline,
                                "stage": stages[stage], "status": "open", "monetary_value": Decimal("12500"),
                                "contact": ann, "updated_at": at, **fields})


def apply(org, state, **kw):
    return opportunity_apply_from_remote(organization=org, provider=PROVIDER, account_id=ACCOUNT, remote=state,
                                         connection_id=None, **kw)


def history(opp) -> list[RemoteChange]:
    return list(RemoteChange.objects.filter(content_type__model="opportunity", object_id=opp.pk).order_by("id"))


def test_each_applied_change_is_recorded_with_its_source_and_a_state_that_changes_nothing_is_not(org, sales):
    # given: a deal the pull brought
    opp = apply(org, remote(sales, at=T0), source=RemoteChange.Source.PULL).opportunity
    rep = CrmUser.objects.create(organization=org, name="Rita Rep")

    # when: a webhook moves it, values and assigns it; the same state again; a reconciliation renames it
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=1), stage=1, monetary_value=Decimal("15000.50"),
                      assignee=rep), source=RemoteChange.Source.WEBHOOK)
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=2), stage=1, monetary_value=Decimal("15000.50"),
                      assignee=rep), source=RemoteChange.Source.WEBHOOK)
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=3), stage=1, monetary_value=Decimal("15000.50"),
                      assignee=rep, name="Acme renewal"), source=RemoteChange.Source.RECONCILE)

    # then
    created, moved, renamed = history(opp)
    _, stages, ann = sales
    assert (created.source, created.outcome, created.external_id) == ("pull", "created", "opp-1")
    assert created.changes["stage"] == [None, stages[0].pk] and created.changes["contact"] == [None, ann.pk]
    assert (moved.source, moved.outcome, moved.organization_id) == ("webhook", "updated", org.pk)
    assert moved.changes == {"stage": [stages[0].pk, stages[1].pk], "monetary_value": [12500, 15000.5],
                             "assignee": [None, rep.pk]}
    assert moved.remote_updated_at == T0 + dt.timedelta(minutes=1)
    assert (renamed.source, renamed.changes) == ("reconcile", {"name": ["Acme deal", "Acme renewal"]})


def test_a_conflict_decided_the_archive_and_its_undoing_are_recorded(org, sales, deal_target):
    # given: a deal whose value was changed here and not pushed yet
    opp = apply(org, remote(sales, at=T0)).opportunity
    opportunity_change(opportunity=opp, monetary_value="13000")

    # when: the remote changed it too, earlier than our edit (the default policy, newest wins, keeps ours); then
    # it deletes the deal (twice); then has it again
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=1), monetary_value=Decimal("9000")),
          source=RemoteChange.Source.WEBHOOK)
    opportunity_archive_from_remote(organization=org, provider=PROVIDER, account_id=ACCOUNT, external_id="opp-1",
                                    at=T0 + dt.timedelta(minutes=2), source=RemoteChange.Source.SWEEP)
    opportunity_archive_from_remote(organization=org, provider=PROVIDER, account_id=ACCOUNT, external_id="opp-1",
                                    at=T0 + dt.timedelta(minutes=3), source=RemoteChange.Source.WEBHOOK)
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=4), monetary_value=Decimal("13000")),
          source=RemoteChange.Source.RECONCILE)

    # then: the decision (ours kept: no value moved), the archive (once), the restore
    _, decided, archived, restored = history(opp)
    assert decided.changes == {} and decided.conflicts == [{"field": "monetary_value", "decision": "local"}]
    assert (archived.source, archived.outcome) == ("sweep", "archived")
    assert archived.changes == {"is_archived": [False, True]}
    assert (restored.source, restored.outcome, restored.changes) == ("reconcile", "updated",
                                                                    {"is_archived": [True, False]})


def test_the_contacts_page_shows_its_deals_changes_by_name_newest_first(client, org, sales):
    # given: a deal created by the pull, then moved, assigned, lost for a reason by webhooks
    pipeline, stages, ann = sales
    rep = CrmUser.objects.create(organization=org, name="Rita Rep")
    reason = LostReason.objects.create(organization=org, name="Price too high")
    apply(org, remote(sales, at=T0), source=RemoteChange.Source.PULL)
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=1), stage=1, assignee=rep,
                      monetary_value=Decimal("13999.9")), source=RemoteChange.Source.WEBHOOK)
    apply(org, remote(sales, at=T0 + dt.timedelta(minutes=2), stage=1, assignee=rep, status="lost",
                      lost_reason=reason, monetary_value=Decimal("13999.9")), source=RemoteChange.Source.WEBHOOK)

    section = inbound_section(client, org, ann)

    # then
    assert section.count("Deal “Acme deal”") == 3, section
    assert "Stage: New Lead → Proposal Sent" in section
    assert "Assigned to: <span class=\"muted\">empty</span> → Rita Rep" in section
    assert "Value: $12,500.00 → $13,999.90" in section
    assert "Status: Open → Lost" in section
    assert "Lost reason: <span class=\"muted\">empty</span> → Price too high" in section
    assert "Contact: <span class=\"muted\">empty</span> → Ann Lee" in section  # the creation, by name
    assert section.index("Status: Open → Lost") < section.index("Stage: New Lead → Proposal Sent") < section.index(
        "Initial pull")
    assert "(removed)" not in section


def test_another_organizations_rows_never_show_and_the_page_costs_the_same_for_many(client, org, sales,
                                                                                  org_factory):
    # given: one change of the contact's deal
    apply(org, remote(sales, at=T0), source=RemoteChange.Source.PULL)
    _, _, ann = sales
    client.force_login(org.memberships.get().user)
    with CaptureQueriesContext(db_connection) as one:
        assert client.get(f"/orgs/{org.pk}/contacts/{ann.pk}/").status_code == 200

    # when: another organisation holds a row naming our deal; then our contact gets many deals and changes
    other = org_factory("Elsewhere")
    opp = Opportunity.objects.get(organization=org)
    RemoteChange.objects.filter(object_id=opp.pk).update(organization=other)
    assert inbound_section(client, org, ann) == ""
    rep = CrmUser.objects.create(organization=org, name="Rita Rep")
    reason = LostReason.objects.create(organization=org, name="Price too high")
    for n in range(1, 6):
        apply(org, remote(sales, at=T0, external_id=f"opp-{n + 1}", name=f"Deal {n}"),
              source=RemoteChange.Source.PULL)
        for step in range(1, 6):
            apply(org, remote(sales, at=T0 + dt.timedelta(minutes=step), external_id=f"opp-{n + 1}", name=f"Deal {n}",
                              stage=step % 3, assignee=rep if step % 2 else None, status="lost",
                              lost_reason=reason, monetary_value=Decimal(step)),
                  source=RemoteChange.Source.WEBHOOK)
    with CaptureQueriesContext(db_connection) as many:
        page = client.get(f"/orgs/{org.pk}/contacts/{ann.pk}/").content.decode()

    # then: the page shows the newest 20 and reads every reference kind once
    assert page.count("Deal “Deal ") == 20
    assert len(many) <= len(one) + 4, [q["sql"] for q in many]
