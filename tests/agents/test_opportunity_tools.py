"""The opportunity tools over REST against the sandbox: moves by fuzzy stage name that reach GHL, `ambiguous`
deals, dry runs saying old → new and sending nothing, status/lost reason/assignee/value, create (first stage,
idempotent), list_pipelines, find_opportunity, get_contact_context's open deals."""
import pytest

from crm.models import Opportunity
from crm.selectors.external_ids import local_object_for_external_id
from ghl_integration.opportunities.sync import opportunities_pull
from ghl_sandbox import constants as sbx

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)
PIPELINE = sbx.DEMO_PIPELINE_ID


def ghl_stages(ghl) -> dict[str, str]:
    return {s["name"]: s["id"] for s in ghl.control.objects("pipeline", PIPELINE)["stages"]}


def ghl_contacts(ghl) -> list[dict]:
    return ghl.control.objects("contact", location_id=LOCATION_ID)


def make_deal(ghl, name: str, contact: int, stage: str = "New Lead", value=12500) -> dict:
    return ghl.control.change("opportunity.create", locationId=LOCATION_ID, pipelineId=PIPELINE, name=name,
                              status="open", contactId=ghl_contacts(ghl)[contact]["id"],
                              pipelineStageId=ghl_stages(ghl)[stage], monetaryValue=value)["opportunity"]


def opportunity_writes(ghl) -> list[dict]:
    return [r for r in ghl.control.request_log(path_prefix="/opportunities") if r["method"] != "GET"]


@pytest.fixture
def acme(ghl, connected):
    deal = make_deal(ghl, "Acme deal", contact=0)
    opportunities_pull(connection=connected)
    ghl.control.clear_request_log()
    return deal


@pytest.fixture
def two_acmes(ghl, connected):
    deals = make_deal(ghl, "Acme website", contact=0), make_deal(ghl, "Acme retainer", contact=1, value=900)
    opportunities_pull(connection=connected)
    ghl.control.clear_request_log()
    return deals


@pytest.mark.parametrize("stage", ["proposal sent", "PROPOSAL SENT", "Propsal Sent"])
def test_move_the_acme_deal_to_proposal_sent(ghl, acme, key, call, stage):
    status, body = call(key, "move_opportunity", {"opportunity": "the Acme deal", "stage": stage})

    assert status == 200, body
    result = body["result"]
    assert result["status"] == "confirmed"
    assert result["changes"] == {"stage": {"from": "New Lead", "to": "Proposal Sent"}}
    assert result["opportunity"]["stage"] == "Proposal Sent"
    assert ghl.control.objects("opportunity", acme["id"])["pipelineStageId"] == ghl_stages(ghl)["Proposal Sent"]


def test_two_acme_deals_are_ambiguous(ghl, two_acmes, key, call):
    status, body = call(key, "move_opportunity", {"opportunity": "Acme", "stage": "Proposal Sent"})

    assert status == 409 and body["error"]["code"] == "ambiguous"
    assert {c["name"] for c in body["error"]["candidates"]} == {"Acme website", "Acme retainer"}
    assert opportunity_writes(ghl) == []


def test_a_stage_that_does_not_exist_lists_the_stages(ghl, acme, key, call):
    status, body = call(key, "move_opportunity", {"opportunity": "Acme deal", "stage": "Signed contract"})

    assert status == 404 and body["error"]["field"] == "stage"
    assert "Proposal Sent" in body["error"]["hint"]


def test_dry_run_says_old_to_new_and_sends_nothing(ghl, acme, key, call):
    status, body = call(key, "update_opportunity", {"opportunity": "Acme deal", "monetary_value": "15000",
                                                    "status": "won", "dry_run": True})

    assert status == 200, body
    assert body["result"]["status"] == "dry_run"
    assert body["result"]["changes"] == {"status": {"from": "open", "to": "won"},
                                         "monetary_value": {"from": "12500.00", "to": "15000.00"}}
    assert opportunity_writes(ghl) == []
    remote = ghl.control.objects("opportunity", acme["id"])
    assert (remote["status"], remote["monetaryValue"]) == ("open", 12500)


def test_lost_with_a_reason_and_an_assignee_by_email_reach_ghl(ghl, acme, key, call):
    user = next(u for u in ghl.control.objects("user") if LOCATION_ID in u["roles"]["locationIds"])
    status, body = call(key, "update_opportunity", {"opportunity": acme["id"], "status": "lost",
                                                    "lost_reason": "price too hi", "assigned_to": user["email"],
                                                    "monetary_value": 11000.5})

    assert status == 200, body
    result = body["result"]
    assert result["status"] == "confirmed"
    assert result["opportunity"]["assigned_to"] == user["name"]
    assert result["opportunity"]["lost_reason"] == "Price too high"
    remote = ghl.control.objects("opportunity", acme["id"])
    reasons = {r["name"]: r["id"] for r in ghl.control.objects("lostReason", location_id=LOCATION_ID)}
    assert (remote["status"], remote["lostReasonId"], remote["assignedTo"], remote["monetaryValue"]) == (
        "lost", reasons["Price too high"], user["id"], 11000.5)


def test_a_lost_reason_without_lost_is_refused(ghl, acme, key, call):
    status, body = call(key, "update_opportunity", {"opportunity": "Acme deal", "lost_reason": "No response"})

    assert status == 400 and body["error"]["code"] == "invalid" and body["error"]["field"] == "lost_reason"


def mirror_contact(connection, remote: dict) -> None:
    """What the contact sync would have done for this GHL contact."""
    from ghl_integration.contacts.inbound import contact_apply_ghl_event

    contact_apply_ghl_event(connection=connection, payload=remote, delivered_at=None)


def test_create_opens_at_the_first_stage_once_per_idempotency_key(ghl, connected, acme, key, call):
    person = ghl_contacts(ghl)[4]
    mirror_contact(connected, person)
    args = {"contact": person["email"], "name": "Whitening", "monetary_value": 450, "idempotency_key": "k-1"}

    first = call(key, "create_opportunity", args)
    again = call(key, "create_opportunity", args)

    assert first[0] == 200, first[1]
    assert first[1]["result"]["status"] == "confirmed" and again[1] == first[1]
    created = [o for o in ghl.control.objects("opportunity", location_id=LOCATION_ID) if o["name"] == "Whitening"]
    assert len(created) == 1
    assert (created[0]["pipelineStageId"], created[0]["monetaryValue"], created[0]["contactId"]) == (
        ghl_stages(ghl)["New Lead"], 450, person["id"])


def test_list_pipelines_gives_stages_in_order_with_open_counts(ghl, acme, key, call):
    status, body = call(key, "list_pipelines", {})

    assert status == 200
    [pipeline] = body["result"]["pipelines"]
    assert [s["name"] for s in pipeline["stages"]] == ["New Lead", "Contacted", "Proposal Sent", "Won"]
    assert (pipeline["stages"][0]["open_opportunities"], pipeline["stages"][0]["open_value"]) == (1, "12500.00")


def test_find_and_resolve_a_deal_by_its_contact(ghl, acme, key, call):
    local = local_object_for_external_id(model=Opportunity, provider="ghl", account_id=LOCATION_ID,
                                         external_id=acme["id"])
    email = local.contact.email

    found = call(key, "find_opportunity", {"query": email})[1]["result"]
    moved = call(key, "move_opportunity", {"opportunity": email, "stage": "Contacted"})[1]

    assert [m["name"] for m in found["matches"]] == ["Acme deal"] and found["matches"][0]["matched_by"] == "contact"
    assert moved["result"]["status"] == "confirmed" and moved["result"]["resolved"]["matched_by"] == "contact"


def test_get_contact_context_lists_open_deals(ghl, acme, key, call):
    local = local_object_for_external_id(model=Opportunity, provider="ghl", account_id=LOCATION_ID,
                                         external_id=acme["id"])

    body = call(key, "get_contact_context", {"contact": str(local.contact_id)})[1]

    [deal] = body["result"]["opportunities"]
    assert (deal["name"], deal["stage"], deal["status"], deal["ghl_opportunity_id"]) == (
        "Acme deal", "New Lead", "open", acme["id"])


def test_answers_carry_the_locations_currency(ghl, connected, key, call):
    # given: a location in Germany (its business profile), a deal there
    ghl.control.change("location.update", locationId=LOCATION_ID, business={"country": "DE"})
    make_deal(ghl, "Acme deal", contact=0, value=12500)
    opportunities_pull(connection=connected)

    found = call(key, "find_opportunity", {"query": "Acme"})[1]["result"]["matches"][0]
    pipelines = call(key, "list_pipelines", {})[1]["result"]
    person = ghl_contacts(ghl)[4]
    mirror_contact(connected, person)
    created = call(key, "create_opportunity", {"contact": person["email"], "name": "Whitening",
                                               "monetary_value": 450})[1]["result"]

    assert (found["currency"], found["monetary_value_display"]) == ("EUR", "€12,500.00")
    assert pipelines["currency"] == "EUR" and pipelines["pipelines"][0]["stages"][0]["open_value_display"] == \
        "€12,500.00"
    assert created["opportunity"]["currency"] == "EUR"
