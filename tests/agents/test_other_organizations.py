"""Another organization's records answer exactly like records that do not exist, on every tool family and in
every input that names a record: the same status, code, field, hint and candidates, nothing of theirs in it."""
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import ApiKey
from agents.services import agent_create, api_key_create
from crm.models import Appointment, Calendar, Contact, CrmUser, LostReason, Opportunity, Pipeline, PipelineStage
from crm.services.conversations import message_record_remote
from crm.services.external_ids import external_id_link

pytestmark = pytest.mark.django_db

MISSING_ID = "987654"                      # a local id nobody has
MISSING_GHL_ID = "NoSuchGhlRecord0000001"  # shaped like a GHL id, linked to nothing
MISSING_NAME = "Ulrike Vandermeer"
MISSING_EMAIL = "nobody@nowhere.example"
MISSING_PHONE = "+15035550888"
# Local ids the two organizations share by accident: org B's deal has the id of org A's contact.
SHARED_PK = 424242


def _link(obj, external_id: str, account: str) -> None:
    external_id_link(obj=obj, provider="ghl", account_id=account, external_id=external_id)


@pytest.fixture
def ours(org):
    """Org A's own records (the key's organization): a person with one open deal, a calendar, an appointment."""
    ann = Contact.objects.create(pk=SHARED_PK, organization=org, first_name="Ann", last_name="Able",
                                 full_name="Ann Able", email="ann@a.example", phone="+15035550100")
    pipeline = Pipeline.objects.create(organization=org, name="Main")
    stages = [PipelineStage.objects.create(organization=org, pipeline=pipeline, name=name, position=i)
              for i, name in enumerate(["New Lead", "Proposal Sent"])]
    deal = Opportunity.objects.create(organization=org, name="Able deal", contact=ann, pipeline=pipeline,
                                      stage=stages[0])
    calendar = Calendar.objects.create(organization=org, name="Chairs", timezone="America/New_York")
    start = timezone.now() + timedelta(days=7)
    appointment = Appointment.objects.create(organization=org, calendar=calendar, contact=ann, starts_at=start,
                                             ends_at=start + timedelta(minutes=30), title="Cleaning")
    return {"contact": ann, "deal": deal, "calendar": calendar, "appointment": appointment}


@pytest.fixture
def theirs(org_factory):
    """Org B's records, each reachable in org B by local id, GHL id, name, email and phone."""
    org_b = org_factory("Other Clinic")
    account = "OtherLocation0000000001"
    # ids of their own, so that none of them is by chance the id of one of org A's records
    quentin = Contact.objects.create(pk=700001, organization=org_b, first_name="Quentin", last_name="Blake",
                                     full_name="Quentin Blake", email="quentin@b.example", phone="+15035550999",
                                     tags=["b-secret"])
    _link(quentin, "TheirContactGhlId00001", account)
    pipeline = Pipeline.objects.create(pk=700002, organization=org_b, name="Zebra Sales")
    _link(pipeline, "TheirPipelineGhlId0001", account)
    stage = PipelineStage.objects.create(pk=700003, organization=org_b, pipeline=pipeline, name="Zebra Signed",
                                         position=0)
    _link(stage, "TheirStageGhlId0000001", account)
    deal = Opportunity.objects.create(pk=SHARED_PK, organization=org_b, name="Zebra retainer", contact=quentin,
                                      pipeline=pipeline, stage=stage)
    _link(deal, "TheirDealGhlId00000001", account)
    user = CrmUser.objects.create(pk=700004, organization=org_b, name="Zed Owner", email="zed@b.example")
    _link(user, "TheirUserGhlId00000001", account)
    reason = LostReason.objects.create(pk=700005, organization=org_b, name="Zebra budget")
    _link(reason, "TheirReasonGhlId000001", account)
    calendar = Calendar.objects.create(pk=700006, organization=org_b, name="Zebra Room",
                                       timezone="America/New_York")
    _link(calendar, "TheirCalendarGhlId0001", account)
    start = timezone.now() + timedelta(days=7)
    appointment = Appointment.objects.create(pk=700007, organization=org_b, calendar=calendar, contact=quentin,
                                             starts_at=start, ends_at=start + timedelta(minutes=30))
    _link(appointment, "TheirApptGhlId00000001", account)
    message, _ = message_record_remote(contact=quentin, channel="sms", direction="inbound", provider="ghl",
                                       provider_message_id="their-message-1", provider_conversation_id="TheirConv1",
                                       body="b secret text", status="received", sender_type="contact")
    return {"contact": quentin, "pipeline": pipeline, "stage": stage, "deal": deal, "user": user,
            "reason": reason, "calendar": calendar, "appointment": appointment,
            "conversation": message.conversation, "day": start.astimezone(timezone.get_current_timezone()).date()}


THEIR_WORDS = ("Quentin", "quentin@b.example", "5550999", "Zebra", "Zed Owner", "zed@b.example", "b-secret",
               "b secret text", "Other Clinic", "Their")


def refs(record_pk: int, ghl_id: str, *names: str) -> list[tuple[str, str]]:
    """(their reference, the missing reference of the same shape)."""
    pairs = [(str(record_pk), MISSING_ID), (ghl_id, MISSING_GHL_ID)]
    for name in names:
        missing = MISSING_EMAIL if "@" in name else MISSING_PHONE if name.startswith("+") else MISSING_NAME
        pairs.append((name, missing))
    return pairs


def cases(ours, theirs):
    """(tool, arguments with {ref} where the reference goes, their reference, the missing one)."""
    q, deal, appt = theirs["contact"], theirs["deal"], theirs["appointment"]
    person = refs(q.pk, "TheirContactGhlId00001", "Quentin Blake", "quentin@b.example", "+15035550999")
    out = []
    for tool, args in (
        ("find_contact", {"query": "{ref}"}),
        ("get_contact_context", {"contact": "{ref}"}),
        ("update_contact", {"contact": "{ref}", "fields": {"city": "Bend"}, "dry_run": True}),
        ("add_tags", {"contact": "{ref}", "tags": ["x"], "dry_run": True}),
        ("remove_tags", {"contact": "{ref}", "tags": ["b-secret"], "dry_run": True}),
        ("send_message", {"contact": "{ref}", "text": "hello", "dry_run": True}),
        ("list_conversations", {"contact": "{ref}"}),
        ("get_messages", {"contact": "{ref}"}),
        ("mark_conversation_read", {"contact": "{ref}", "dry_run": True}),
        ("create_opportunity", {"contact": "{ref}", "name": "New deal", "dry_run": True}),
        ("find_opportunity", {"query": "{ref}"}),
        ("list_appointments", {"contact": "{ref}"}),
        ("book_appointment", {"contact": "{ref}", "calendar": "Chairs", "start_time": "2030-01-08T10:00:00-05:00",
                              "dry_run": True}),
    ):
        out += [(tool, args, mine, missing) for mine, missing in person]
    out += [(tool, args, mine, missing) for tool, args in (
        ("get_messages", {"conversation_id": "{int}"}),
        ("mark_conversation_read", {"conversation_id": "{int}", "dry_run": True}),
    ) for mine, missing in [(str(theirs["conversation"].pk), MISSING_ID)]]
    deal_refs = refs(deal.pk, "TheirDealGhlId00000001", "Zebra retainer")
    out += [(tool, args, mine, missing) for tool, args in (
        ("find_opportunity", {"query": "{ref}"}),
        ("move_opportunity", {"opportunity": "{ref}", "stage": "Proposal Sent", "dry_run": True}),
        ("update_opportunity", {"opportunity": "{ref}", "monetary_value": 5, "dry_run": True}),
    ) for mine, missing in deal_refs]
    pipeline_refs = refs(theirs["pipeline"].pk, "TheirPipelineGhlId0001", "Zebra Sales")
    out += [(tool, args, mine, missing) for tool, args in (
        ("find_opportunity", {"query": "Able deal", "pipeline": "{ref}"}),
        ("move_opportunity", {"opportunity": "Able deal", "stage": "Proposal Sent", "pipeline": "{ref}",
                              "dry_run": True}),
        ("create_opportunity", {"contact": "Ann Able", "name": "New deal", "pipeline": "{ref}", "dry_run": True}),
    ) for mine, missing in pipeline_refs]
    stage_refs = refs(theirs["stage"].pk, "TheirStageGhlId0000001", "Zebra Signed")
    out += [(tool, args, mine, missing) for tool, args in (
        ("move_opportunity", {"opportunity": "Able deal", "stage": "{ref}", "dry_run": True}),
        ("create_opportunity", {"contact": "Ann Able", "name": "New deal", "stage": "{ref}", "dry_run": True}),
    ) for mine, missing in stage_refs]
    out += [("update_opportunity", {"opportunity": "Able deal", "assigned_to": "{ref}", "dry_run": True},
             mine, missing)
            for mine, missing in refs(theirs["user"].pk, "TheirUserGhlId00000001", "Zed Owner", "zed@b.example")]
    out += [("update_opportunity", {"opportunity": "Able deal", "status": "lost", "lost_reason": "{ref}",
                                    "dry_run": True}, mine, missing)
            for mine, missing in refs(theirs["reason"].pk, "TheirReasonGhlId000001", "Zebra budget")]
    calendar_refs = refs(theirs["calendar"].pk, "TheirCalendarGhlId0001", "Zebra Room")
    out += [(tool, args, mine, missing) for tool, args in (
        ("get_free_slots", {"calendar": "{ref}", "start_date": "2030-01-08"}),
        ("list_appointments", {"calendar": "{ref}"}),
        ("book_appointment", {"contact": "Ann Able", "calendar": "{ref}", "start_time": "2030-01-08T10:00:00-05:00",
                              "dry_run": True}),
    ) for mine, missing in calendar_refs]
    day = theirs["day"].isoformat()
    appt_refs = [*refs(appt.pk, "TheirApptGhlId00000001"), (f"Quentin Blake {day}", f"{MISSING_NAME} {day}")]
    out += [(tool, args, mine, missing) for tool, args in (
        ("reschedule_appointment", {"appointment": "{ref}", "start_time": "2030-01-08T10:00:00-05:00",
                                    "dry_run": True}),
        ("cancel_appointment", {"appointment": "{ref}", "dry_run": True}),
    ) for mine, missing in appt_refs]
    out += [("cancel_appointment", {"appointment": {"contact": "{ref}", "date": theirs["day"].isoformat()},
                                    "dry_run": True}, mine, missing) for mine, missing in person]
    out += [("list_users", {"query": "{ref}"}, mine, missing)
            for mine, missing in refs(theirs["user"].pk, "TheirUserGhlId00000001", "Zed Owner", "zed@b.example")]
    return out


def _echo_replaced(value, mine: str, missing: str):
    """`value` with the caller's own reference, where it is echoed back in a text, written as the missing one."""
    if isinstance(value, str):
        return re.sub(rf"(?<![\w.@+-]){re.escape(mine)}(?![\w@-]|\.\w)", missing, value)
    if isinstance(value, dict):
        return {k: _echo_replaced(v, mine, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_echo_replaced(v, mine, missing) for v in value]
    return value


def _fill(value, ref: str):
    if value == "{ref}":
        return ref
    if value == "{int}":
        return int(ref)
    if isinstance(value, dict):
        return {k: _fill(v, ref) for k, v in value.items()}
    return value


def test_another_organizations_records_answer_like_missing_ones_on_every_tool(org, ours, theirs, call):
    row, key = api_key_create(agent=agent_create(organization=org, name="Everything"))
    ApiKey.objects.filter(pk=row.pk).update(rate_limit_per_minute=10_000)  # two calls per case
    tools_seen = set()
    for tool, args, mine, missing in cases(ours, theirs):
        tools_seen.add(tool)
        status_theirs, answer_theirs = call(key, tool, _fill(args, mine))
        status_missing, answer_missing = call(key, tool, _fill(args, missing))
        what = f"{tool} {json.dumps(_fill(args, mine))}"
        assert status_theirs == status_missing, what
        # exactly the answer for a reference that does not exist, but for the caller's own words echoed back
        echoed = _echo_replaced(answer_theirs, mine, missing)
        if mine.startswith("Quentin Blake "):  # a name and a date: the name alone may be echoed
            echoed = _echo_replaced(echoed, "Quentin Blake", MISSING_NAME)
        assert echoed == answer_missing, what
        shown = json.dumps(echoed, ensure_ascii=False).lower()
        leaked = [w for w in THEIR_WORDS if w.lower() in shown]
        assert not leaked, f"{what} shows {leaked}: {answer_theirs}"
    from agents.tools.registry import registry

    takes_a_reference = {t.name for t in registry.all()} - {"create_contact", "list_pipelines", "list_calendars",
                                                            "get_business_context"}
    assert tools_seen == takes_a_reference


def test_the_business_context_shows_nothing_of_another_organization(org, ours, theirs, call):
    key = api_key_create(agent=agent_create(organization=org, name="Everything"))[1]

    status, answer = call(key, "get_business_context", {})

    assert status == 200 and answer["ok"], answer
    shown = json.dumps(answer, ensure_ascii=False).lower()
    assert not [w for w in THEIR_WORDS if w.lower() in shown], answer
    result = answer["result"]
    assert [p["name"] for p in result["pipelines"]] == ["Main"] and result["users"] == []
    assert [c["name"] for c in result["calendars"]] == ["Chairs"]
    assert {kind: counts["count"] for kind, counts in result["mirror"].items()} == {
        "contacts": 1, "opportunities": 1, "pipelines": 1, "calendars": 1, "appointments": 1, "users": 0,
        "conversations": 0}


def test_a_deal_id_is_never_read_as_a_contact_id(org, ours, theirs, call):
    """Org A's contact and org B's deal share a local id: that id names no deal of org A."""
    key = api_key_create(agent=agent_create(organization=org, name="Deals"))[1]
    status, body = call(key, "move_opportunity", {"opportunity": str(SHARED_PK), "stage": "Proposal Sent",
                                                  "dry_run": True})
    assert status == 404 and body["error"]["code"] == "not_found" and body["error"]["field"] == "opportunity", body
    status, body = call(key, "find_opportunity", {"query": str(SHARED_PK)})
    assert status == 200 and body["result"]["matches"] == [], body
    # the contact's own words still find their one open deal
    status, body = call(key, "find_opportunity", {"query": "ann@a.example"})
    assert [m["name"] for m in body["result"]["matches"]] == ["Able deal"], body
