"""Opportunity custom fields map like contact custom fields: `FieldMapping` rows of the opportunity kind made
from GHL's fields (model=opportunity), typed, directed, switched off by the owner; values both ways (pull,
webhook, push) against the sandbox over HTTP; conflicts per key by the opportunity policy."""
import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError

from crm.models import ExternalIdentity, Opportunity
from crm.services.opportunities import opportunity_change, opportunity_plan_change
from crm.sync.conflict import conflict_policy_set
from crm.sync.models import FieldMapping, SyncConflict
from ghl_integration.opportunities.mapping import (
    opportunity_field_mapping_remove,
    opportunity_field_mapping_set,
)
from ghl_integration.opportunities.sync import opportunities_pull, opportunities_reconcile
from ghl_integration.sync.push import outbox_push_pending
from tests.ghl_integration.contacts.conftest import deliver

from .conftest import LOCATION, make_deal, wait_received
from .test_inbound import local

pytestmark = pytest.mark.django_db


def field_id(ghl, key: str) -> str:
    return next(f["id"] for f in ghl.control.objects("customField", location_id=LOCATION)
                if f["fieldKey"] == f"opportunity.{key}")


def ghl_value(ghl, deal_id: str, fid: str):
    doc = ghl.control.objects("opportunity", deal_id)
    return next((cf["fieldValue"] for cf in doc.get("customFields", []) if cf["id"] == fid), None)


def rows(org) -> dict[str, FieldMapping]:
    return {r.remote_key: r for r in FieldMapping.objects.for_org(org).filter(object_type="opportunity")}


@pytest.fixture
def budget(ghl):
    """A number field added to the location's opportunities in GHL."""
    return ghl.control.change("customField.create", locationId=LOCATION, name="Budget", dataType="NUMERICAL",
                              model="opportunity", key="budget")["customField"]


@pytest.fixture
def pulled(ghl, org, connection, budget):
    deal = make_deal(ghl, name="Acme deal", customFields=[{"id": field_id(ghl, "treatment_interest"),
                                                           "field_value": "implants"},
                                                          {"id": budget["id"], "field_value": "4500"}])
    opportunities_pull(connection=connection)
    return deal


def test_the_pull_makes_typed_mapping_rows_of_the_opportunity_kind_and_maps_values(ghl, org, pulled, budget):
    mapped = rows(org)
    treatment = mapped[f"customFields.{field_id(ghl, 'treatment_interest')}"]
    assert (treatment.local_field, treatment.data_type, treatment.direction, treatment.remote_label) == (
        "custom_properties.treatment_interest", "text", "both", "Treatment interest")
    assert (mapped[f"customFields.{budget['id']}"].local_field, mapped[f"customFields.{budget['id']}"].data_type) == (
        "custom_properties.budget", "number")
    # GHL's contact custom fields stay contact rows
    assert not any("preferred_dentist" in r.local_field for r in mapped.values())
    assert FieldMapping.objects.for_org(org).filter(object_type="contact",
                                                    local_field="custom_properties.preferred_dentist").exists()
    # the number arrives as a number, not GHL's string
    assert local(pulled["id"]).custom_properties == {"treatment_interest": "implants", "budget": 4500}


def test_a_custom_value_set_here_reaches_ghl_and_one_cleared_there_is_cleared_here(ghl, org, connection, pulled,
                                                                                   budget):
    opp = local(pulled["id"])
    changes = opportunity_change(opportunity=opp, custom_properties={"treatment_interest": "veneers",
                                                                     "budget": "5200.50"})
    counts = outbox_push_pending(connection_id=connection.pk)

    assert {k: v.as_dict() for k, v in changes.items()} == {
        "custom_properties.treatment_interest": {"from": "implants", "to": "veneers"},
        "custom_properties.budget": {"from": 4500, "to": 5200.5}}  # a number, as GHL's field types it
    assert counts["updated"] == 1 and counts.get("failed", 0) == 0
    assert ghl_value(ghl, pulled["id"], field_id(ghl, "treatment_interest")) == "veneers"
    assert ghl_value(ghl, pulled["id"], budget["id"]) in (5200.5, "5200.5", "5200.50")

    # when: GHL empties the text field (its webhook missed); the reconciliation reads the deal
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": field_id(ghl, "treatment_interest"), "field_value": ""}])
    opportunities_reconcile(connection=connection)

    opp.refresh_from_db()
    assert opp.custom_properties == {"budget": 5200.5}


def test_a_custom_field_changed_in_ghl_arrives_by_webhook(ghl, org, connection, pulled, receiver):
    # the last change we applied is older than the echo window, so the event is read, not taken for our echo
    ExternalIdentity.objects.filter(external_id=pulled["id"]).update(
        remote_updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    receiver.received.clear()
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": field_id(ghl, "treatment_interest"), "field_value": "aligners"}])

    assert deliver(wait_received(receiver, 1)) == ["processed"]
    assert local(pulled["id"]).custom_properties["treatment_interest"] == "aligners"


def test_direction_and_switched_off_rows_are_honoured_both_ways(ghl, org, connection, pulled, budget,
                                                                django_capture_on_commit_callbacks):
    treatment_key = f"customFields.{field_id(ghl, 'treatment_interest')}"
    with django_capture_on_commit_callbacks():  # the re-apply pull is queued; this test pulls itself
        opportunity_field_mapping_set(connection=connection, remote_key=treatment_key,
                                      local_field="custom_properties.treatment_interest", data_type="text",
                                      direction="inbound")
        opportunity_field_mapping_remove(connection=connection, remote_key=f"customFields.{budget['id']}")
    opp = local(pulled["id"])

    # a local edit of an inbound-only field and of a switched-off one: neither goes to GHL
    opportunity_change(opportunity=opp, custom_properties={"treatment_interest": "crowns", "budget": 1})
    outbox_push_pending(connection_id=connection.pk)
    assert ghl_value(ghl, pulled["id"], field_id(ghl, "treatment_interest")) == "implants"
    assert ghl_value(ghl, pulled["id"], budget["id"]) == "4500"

    # GHL's values: the inbound field comes in, the switched-off one does not
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": field_id(ghl, "treatment_interest"), "field_value": "bridges"},
                                     {"id": budget["id"], "field_value": "9999"}])
    opportunities_reconcile(connection=connection)
    opp.refresh_from_db()
    assert opp.custom_properties == {"treatment_interest": "bridges", "budget": 1}

    # the mirror's refresh never re-adds or re-activates what the owner switched off
    opportunities_pull(connection=connection)
    assert rows(org)[f"customFields.{budget['id']}"].is_active is False


def test_a_field_added_in_ghl_gets_its_row_when_a_deal_carries_it(ghl, org, connection, pulled):
    referral = ghl.control.change("customField.create", locationId=LOCATION, name="Referral", model="opportunity",
                                  key="referral")["customField"]
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": referral["id"], "field_value": "Dr. Who"}])

    opportunities_reconcile(connection=connection)

    assert rows(org)[f"customFields.{referral['id']}"].local_field == "custom_properties.referral"
    assert local(pulled["id"]).custom_properties["referral"] == "Dr. Who"


def test_a_value_its_type_refuses_is_kept_out_and_recorded_on_the_row(ghl, org, connection, pulled, budget):
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": budget["id"], "field_value": "a lot"}])

    opportunities_reconcile(connection=connection)

    assert local(pulled["id"]).custom_properties["budget"] == 4500  # kept, not corrupted
    row = rows(org)[f"customFields.{budget['id']}"]
    assert "'a lot' is not a number" in row.last_error and "Acme deal" in row.last_error


@pytest.mark.parametrize("change,field,message", [
    ({"local_field": "name"}, "local_field", "filled from GHL's own opportunity field"),
    ({"local_field": "colour"}, "local_field", "Opportunity has no field 'colour'"),
    ({"local_field": "custom_properties."}, "local_field", "Name the custom property"),
    ({"data_type": "date"}, "data_type", "holds number values"),
    ({"remote_key": "customFields.nope"}, "remote_key", "opportunity custom fields"),
    ({"local_field": "custom_properties.treatment_interest"}, "local_field", "already filled from GHL's"),
])
def test_a_mapping_edit_is_validated_against_the_opportunity_model_and_ghl(ghl, org, connection, pulled, budget,
                                                                          change, field, message):
    values = {"remote_key": f"customFields.{budget['id']}", "local_field": "custom_properties.budget_usd",
              "data_type": "number", "direction": "both", **change}
    with pytest.raises(ValidationError) as exc:
        opportunity_field_mapping_set(connection=connection, **values)
    assert message in " ".join(exc.value.message_dict[field])
    assert rows(org)[f"customFields.{budget['id']}"].local_field == "custom_properties.budget"  # unchanged


def test_a_mapping_change_re_applies_every_deal(ghl, org, connection, pulled, budget,
                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        opportunity_field_mapping_set(connection=connection, remote_key=f"customFields.{budget['id']}",
                                      local_field="custom_properties.budget_usd", data_type="number")
    assert len(callbacks) == 1  # the pull is queued after the commit
    link = ExternalIdentity.objects.get(external_id=pulled["id"],
                                        content_type=ContentType.objects.get_for_model(Opportunity))
    assert link.remote_updated_at is None  # so the pull applies each deal again

    opportunities_pull(connection=connection)

    assert local(pulled["id"]).custom_properties["budget_usd"] == 4500


def test_both_sides_changed_one_custom_key_the_opportunity_policy_decides(ghl, org, connection, pulled):
    conflict_policy_set(organization=org, provider="ghl", account_id=LOCATION, field="*", policy="local_wins")
    conflict_policy_set(organization=org, provider="ghl", account_id=LOCATION,
                        field="custom_properties.treatment_interest", policy="remote_wins", object_type="opportunity")
    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, custom_properties={"treatment_interest": "crowns"})
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": field_id(ghl, "treatment_interest"), "field_value": "bridges"}])

    outbox_push_pending(connection_id=connection.pk)

    opp.refresh_from_db()
    assert opp.custom_properties["treatment_interest"] == "bridges"
    assert ghl_value(ghl, pulled["id"], field_id(ghl, "treatment_interest")) == "bridges"
    conflict = SyncConflict.objects.get(field="custom_properties.treatment_interest")
    assert (conflict.policy, conflict.decision) == ("remote_wins", "remote")


def test_custom_properties_input_is_checked():
    opp = Opportunity(monetary_value=Decimal("0"), custom_properties={})
    with pytest.raises(ValidationError) as exc:
        opportunity_plan_change(opportunity=opp, custom_properties={"plan": {"nested": 1}})
    assert "custom_properties" in exc.value.message_dict


def test_a_custom_field_changed_in_ghl_right_after_another_edit_arrives_within_seconds(
        ghl, org, connection, pulled, receiver, django_capture_on_commit_callbacks, monkeypatch):
    from ghl_integration.opportunities import tasks

    queued = []
    monkeypatch.setattr(tasks.opportunity_confirm_task, "apply_async",
                        lambda args, countdown=None, **kw: queued.append((tuple(args), countdown)))
    # given: a value edit here, pushed: GHL's echoes of it come within the window
    opportunity_change(opportunity=local(pulled["id"]), monetary_value=Decimal("13000"))
    outbox_push_pending(connection_id=connection.pk)
    receiver.received.clear()

    # when: someone in GHL changes only a custom field a moment later (the summary shows the state we hold)
    ghl.control.change("opportunity.update", opportunityId=pulled["id"],
                       customFields=[{"id": field_id(ghl, "treatment_interest"), "field_value": "aligners"}])
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(wait_received(receiver, 1)) == ["processed"]

    # then: the queued read (seconds later, as a worker runs it) brings the value
    assert len(queued) == 1 and queued[0][1] <= 5
    assert tasks.opportunity_confirm_task.run(*queued[0][0]) == "updated"
    assert local(pulled["id"]).custom_properties["treatment_interest"] == "aligners"


def test_picklist_options_are_stored_kept_current_and_checked_on_a_local_edit(ghl, org, connection, pulled):
    # given: GHL's opportunity picklists (one value, several values)
    source = ghl.control.change("customField.create", locationId=LOCATION, name="Lead source", model="opportunity",
                                key="lead_source", dataType="SINGLE_OPTIONS",
                                picklistOptions=["Referral", "Website"])["customField"]
    extras = ghl.control.change("customField.create", locationId=LOCATION, name="Extras", model="opportunity",
                                key="extras", dataType="MULTIPLE_OPTIONS",
                                picklistOptions=["Whitening", "Night guard"])["customField"]

    # when: the mirror refreshes (as every reconciliation does)
    opportunities_reconcile(connection=connection)

    # then: the rows carry GHL's options, as contact rows do
    mapped = rows(org)
    assert mapped[f"customFields.{source['id']}"].options == ["Referral", "Website"]
    assert (mapped[f"customFields.{extras['id']}"].data_type, mapped[f"customFields.{extras['id']}"].options) == (
        "list", ["Whitening", "Night guard"])
    assert mapped[f"customFields.{field_id(ghl, 'treatment_interest')}"].options == []  # free text

    # a value outside the picklist is refused naming the field and its values; a known one takes GHL's spelling
    opp = local(pulled["id"])
    with pytest.raises(ValidationError) as exc:
        opportunity_plan_change(opportunity=opp, custom_properties={"lead_source": "Billboard"})
    assert exc.value.message_dict == {"custom_properties.lead_source": [
        "“Billboard” is not among this field's values: Referral, Website."]}
    with pytest.raises(ValidationError):
        opportunity_plan_change(opportunity=opp, custom_properties={"extras": ["Whitening", "Braces"]})
    changes = opportunity_change(opportunity=opp, custom_properties={"lead_source": "website",
                                                                     "extras": "night guard, whitening",
                                                                     "treatment_interest": "anything at all"})
    assert changes["custom_properties.lead_source"].new == "Website"
    assert changes["custom_properties.extras"].new == ["Night guard", "Whitening"]
    outbox_push_pending(connection_id=connection.pk)
    assert ghl_value(ghl, pulled["id"], source["id"]) == "Website"

    # when: the row's options differ from GHL's (a row made before they were stored, or GHL edited them)
    FieldMapping.objects.filter(remote_key=f"customFields.{source['id']}").update(options=["Old"])
    opportunities_reconcile(connection=connection)

    # then: the next refresh brings GHL's
    assert rows(org)[f"customFields.{source['id']}"].options == ["Referral", "Website"]
