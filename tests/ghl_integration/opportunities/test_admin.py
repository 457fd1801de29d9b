"""Staff edits of opportunities in the admin go through the opportunity services: validated as everywhere, queued
at once and pushed to GHL (the sandbox, over HTTP)."""
import pytest

from crm.models import Opportunity, PipelineStage
from crm.selectors.external_ids import external_id_for_object
from crm.sync.models import OutboxEntry
from ghl_integration.opportunities.sync import opportunities_pull
from ghl_integration.sync.push import outbox_push_pending

from .conftest import LOCATION, make_deal
from .test_inbound import local

pytestmark = pytest.mark.django_db

INLINE = "crm-externalidentity-content_type-object_id"


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def pulled(ghl, org, connection):
    deal = make_deal(ghl, name="Acme deal", value=12500)
    opportunities_pull(connection=connection)
    return deal


def _form(opp, **fields) -> dict:
    data = {"name": opp.name, "stage": opp.stage_id, "status": opp.status, "monetary_value": str(opp.monetary_value),
            "assignee": opp.assignee_id or "", "lost_reason": opp.lost_reason_id or "",
            f"{INLINE}-TOTAL_FORMS": "0", f"{INLINE}-INITIAL_FORMS": "0"}
    data.update(fields)
    return data


def test_a_stage_move_and_value_edited_in_admin_reach_ghl(staff, ghl, org, connection, pulled):
    opp = local(pulled["id"])
    proposal = PipelineStage.objects.for_org(org).get(name="Proposal Sent", is_archived=False)

    response = staff.post(f"/admin/crm/opportunity/{opp.pk}/change/",
                          _form(opp, stage=proposal.pk, monetary_value="14000.50"))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert OutboxEntry.objects.filter(object_id=opp.pk, content_type__model="opportunity",
                                      status="pending").exists()  # queued at once, not left for reconciliation
    outbox_push_pending(connection_id=connection.pk)
    remote = ghl.control.objects("opportunity", pulled["id"])
    assert remote["pipelineStageId"] == external_id_for_object(obj=proposal, provider="ghl", account_id=LOCATION)
    assert remote["monetaryValue"] == 14000.5


def test_a_lost_reason_on_an_open_deal_is_refused_on_the_field_and_nothing_changes(staff, ghl, org, connection,
                                                                                    pulled):
    from crm.models import LostReason

    opp = local(pulled["id"])
    reason = LostReason.objects.for_org(org).get(name="Price too high")

    response = staff.post(f"/admin/crm/opportunity/{opp.pk}/change/",
                          _form(opp, lost_reason=reason.pk, monetary_value="1"))

    assert response.status_code == 200
    assert "only for a lost opportunity" in response.content.decode()
    opp.refresh_from_db()
    assert opp.lost_reason_id is None and opp.monetary_value == 12500
    assert not OutboxEntry.objects.filter(object_id=opp.pk, content_type__model="opportunity",
                                          status="pending").exists()


def another_ghl_contact(ghl, connection, deals_contact):
    """A GHL contact with no deal yet (GHL keeps one deal per contact and pipeline), brought here."""
    from crm.models import Contact
    from crm.selectors.external_ids import local_object_for_external_id
    from ghl_integration.contacts.inbound import contact_apply_ghl_event
    from ghl_integration.installation import GhlInstallation

    other = ghl.control.objects("contact", location_id=LOCATION)[3]
    with GhlInstallation(connection).get_client() as client:
        contact_apply_ghl_event(connection=connection, payload=client.contacts.get(other["id"]), delivered_at=None)
    person = local_object_for_external_id(model=Contact, provider="ghl", account_id=LOCATION,
                                          external_id=other["id"])
    assert person is not None and person != deals_contact
    return person


def test_a_deal_added_in_admin_is_created_in_ghl(staff, ghl, org, connection, pulled):
    contact = another_ghl_contact(ghl, connection, local(pulled["id"]).contact)
    first = PipelineStage.objects.for_org(org).get(name="New Lead", is_archived=False)

    response = staff.post("/admin/crm/opportunity/add/", {
        "organization": org.pk, "name": "Globex renewal", "contact": contact.pk, "pipeline": first.pipeline_id,
        "stage": first.pk, "status": "open", "monetary_value": "900", "currency": "USD",
        f"{INLINE}-TOTAL_FORMS": "0", f"{INLINE}-INITIAL_FORMS": "0"})

    assert response.status_code == 302, response.content.decode()[:3000]
    opp = Opportunity.objects.get(name="Globex renewal")
    outbox_push_pending(connection_id=connection.pk)
    ghl_id = external_id_for_object(obj=opp, provider="ghl", account_id=LOCATION)
    assert ghl_id and ghl.control.objects("opportunity", ghl_id)["name"] == "Globex renewal"


def test_a_deal_added_with_a_stage_of_another_pipeline_is_refused(staff, ghl, org, connection, pulled):
    from crm.services.pipelines import pipeline_create

    contact = local(pulled["id"]).contact
    other = pipeline_create(organization=org, name="Other", stage_names=["Only"])
    first = PipelineStage.objects.for_org(org).get(name="New Lead", is_archived=False)

    response = staff.post("/admin/crm/opportunity/add/", {
        "organization": org.pk, "name": "Wrong", "contact": contact.pk, "pipeline": first.pipeline_id,
        "stage": other.stages.get().pk, "status": "open", "monetary_value": "1", "currency": "USD",
        f"{INLINE}-TOTAL_FORMS": "0", f"{INLINE}-INITIAL_FORMS": "0"})

    assert response.status_code == 200 and "is a stage of another pipeline" in response.content.decode()
    assert not Opportunity.objects.filter(name="Wrong").exists()


def test_a_deal_added_in_admin_takes_the_locations_currency_not_a_typed_one(staff, ghl, org, connection, pulled):
    # given: the location is in Germany (its deals in euros)
    ghl.control.change("location.update", locationId=LOCATION, business={"country": "DE"})
    opportunities_pull(connection=connection)
    contact = another_ghl_contact(ghl, connection, local(pulled["id"]).contact)
    first = PipelineStage.objects.for_org(org).get(name="New Lead", is_archived=False)

    response = staff.post("/admin/crm/opportunity/add/", {
        "organization": org.pk, "name": "Globex renewal", "contact": contact.pk, "pipeline": first.pipeline_id,
        "stage": first.pk, "status": "open", "monetary_value": "900", "currency": "USD",
        f"{INLINE}-TOTAL_FORMS": "0", f"{INLINE}-INITIAL_FORMS": "0"})

    assert response.status_code == 302, response.content.decode()[:3000]
    assert Opportunity.objects.get(name="Globex renewal").currency == "EUR"


def test_emptying_the_assignee_or_a_lost_deals_reason_is_refused_on_the_field(staff, ghl, org, connection, pulled):
    from crm.models import CrmUser, LostReason
    from crm.services.opportunities import opportunity_change

    opp = local(pulled["id"])
    opportunity_change(opportunity=opp, assignee=CrmUser.objects.for_org(org).first(), status="lost",
                       lost_reason=LostReason.objects.for_org(org).first())
    opp.refresh_from_db()

    for field in ("assignee", "lost_reason"):
        response = staff.post(f"/admin/crm/opportunity/{opp.pk}/change/", _form(opp, **{field: ""}))

        # then: the page again with the error on that field, nothing changed (not a silent "saved")
        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
        fresh = Opportunity.objects.get(pk=opp.pk)
        assert (fresh.assignee_id, fresh.lost_reason_id) == (opp.assignee_id, opp.lost_reason_id)


def test_sync_links_are_read_only_in_admin(staff, org, connection, pulled):
    from crm.models import ExternalIdentity

    link = ExternalIdentity.objects.get(external_id=pulled["id"])

    response = staff.post(f"/admin/crm/externalidentity/{link.pk}/change/", {
        "provider": "ghl", "account_id": LOCATION, "content_type": link.content_type_id, "object_id": link.object_id,
        "external_id": "someone-else", "organization": org.pk})
    deleted = staff.post(f"/admin/crm/externalidentity/{link.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403 and deleted.status_code == 403
    assert ExternalIdentity.objects.get(pk=link.pk).external_id == pulled["id"]
    assert staff.get(f"/admin/crm/externalidentity/{link.pk}/change/").status_code == 200  # still readable
