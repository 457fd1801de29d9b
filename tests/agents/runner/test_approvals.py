"""Approvals (suggestive mode): nothing reaches GHL until a person approves; approved runs once; rejected never."""
import pytest
from django.core.exceptions import ValidationError

from agents.approvals.services import approval_needed, pending_action_approve, pending_action_reject
from agents.models import Agent, PendingAction
from agents.runner.loop import agent_run_execute
from agents.runner.services import agent_run_start
from agents.tools.registry import registry
from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create
from tests.agents.conftest import ghl_writes
from tests.agents.fake_model import call, say

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jane(connected, org):
    person = contact_create(organization=org, first_name="Jane", last_name="Doe", email="jane@example.com")
    person.refresh_from_db()
    return person


@pytest.fixture
def careful(agent):
    agent.write_policy = Agent.WritePolicy.APPROVE_WRITES
    agent.save()
    return agent


def ghl_contact(ghl, contact):
    ext = ExternalIdentity.objects.get(object_id=contact.pk, content_type__model="contact").external_id
    return ghl.control.objects("contact", ext)


def tag_via_runner(fake_model, agent):
    @fake_model.rule("tag Jane")
    def tag(match, conv):
        last = conv.last("add_tags")
        if last is None:
            return call("add_tags", contact="jane@example.com", tags=["vip"])
        return say(f"status: {last['result']['status']}")

    return agent_run_execute(run_id=agent_run_start(agent=agent, instruction="tag Jane as vip").pk)


def test_nothing_reaches_ghl_until_approved_then_it_runs_once(fake_model, careful, jane, ghl, org):
    ghl.control.clear_request_log()
    # when the agent writes
    run = tag_via_runner(fake_model, careful)
    # then it is pending with the dry run, and nothing changed here or in GHL
    assert run.status == "succeeded" and run.reply == "status: pending_approval"
    action = PendingAction.objects.get()
    assert action.tool == "add_tags" and action.arguments == {"contact": "jane@example.com", "tags": ["vip"]}
    assert action.preview["result"]["status"] == "dry_run" and action.contact_id == jane.pk
    assert action.preview["result"]["changes"]["tags"]["to"] == ["vip"]
    assert ghl_writes(ghl) == [] and Contact.objects.get(pk=jane.pk).tags == []
    # when approved
    user = org.memberships.first().user
    done = pending_action_approve(action=action, user=user)
    # then it ran once, in GHL too
    assert done.status == "done" and done.result["result"]["status"] == "confirmed"
    assert ghl_contact(ghl, jane)["tags"] == ["vip"]
    assert len([w for w in ghl_writes(ghl) if w["path"].endswith("/tags")]) == 1
    with pytest.raises(ValidationError):
        pending_action_approve(action=action, user=user)
    assert len([w for w in ghl_writes(ghl) if w["path"].endswith("/tags")]) == 1


def test_a_rejected_action_never_runs(fake_model, careful, jane, ghl, org):
    ghl.control.clear_request_log()
    tag_via_runner(fake_model, careful)
    action = PendingAction.objects.get()
    user = org.memberships.first().user
    assert pending_action_reject(action=action, user=user).status == "rejected"
    with pytest.raises(ValidationError):
        pending_action_approve(action=action, user=user)
    assert ghl_writes(ghl) == [] and Contact.objects.get(pk=jane.pk).tags == []


def test_an_edited_action_runs_the_edit_and_a_bad_edit_is_refused(fake_model, careful, jane, ghl, org):
    tag_via_runner(fake_model, careful)
    action = PendingAction.objects.get()
    user = org.memberships.first().user
    with pytest.raises(ValidationError) as exc:
        pending_action_approve(action=action, user=user, arguments={"contact": "jane@example.com", "tag": "x"})
    assert "tag" in str(exc.value)
    assert PendingAction.objects.get().status == "pending"
    done = pending_action_approve(action=action, user=user, arguments={"contact": "jane@example.com",
                                                                       "tags": ["gold"]})
    assert done.status == "done" and done.edited and ghl_contact(ghl, jane)["tags"] == ["gold"]


def test_the_same_write_sent_again_is_one_pending_action(careful, key, call, jane):
    body = {"contact": "jane@example.com", "tags": ["vip"], "idempotency_key": "k-1"}
    first = call(key, "add_tags", body)[1]
    second = call(key, "add_tags", body)[1]
    assert first["result"]["status"] == second["result"]["status"] == "pending_approval"
    assert first["result"]["approval_id"] == second["result"]["approval_id"]
    assert PendingAction.objects.count() == 1


def test_a_dry_run_error_is_answered_and_nothing_is_pending(careful, key, call, jane):
    status, body = call(key, "add_tags", {"contact": "Nobody Atall", "tags": ["vip"]})
    assert status == 404 and body["error"]["code"] == "not_found"
    assert not PendingAction.objects.exists()


def test_which_writes_need_approval(agent):
    add_tags, cancel, reads = registry.get("add_tags"), registry.get("cancel_appointment"), registry.get("find_contact")
    assert not approval_needed(agent=agent, tool=add_tags)
    agent.write_policy = Agent.WritePolicy.APPROVE_RISKY
    assert not approval_needed(agent=agent, tool=add_tags) and approval_needed(agent=agent, tool=cancel)
    agent.write_policy = Agent.WritePolicy.APPROVE_WRITES
    assert approval_needed(agent=agent, tool=add_tags) and not reads.writes


def test_the_owner_approves_on_the_activity_page(client, fake_model, careful, jane, ghl, org):
    tag_via_runner(fake_model, careful)
    action = PendingAction.objects.get()
    client.force_login(org.memberships.first().user)
    page = client.get(f"/orgs/{org.pk}/agents/activity/")
    assert page.status_code == 200 and f'id="pending-{action.pk}"'.encode() in page.content
    assert b"&#x27;changes&#x27;" in page.content and b"wants to <code>add_tags</code>" in page.content
    bad = client.post(f"/orgs/{org.pk}/agents/approvals/{action.pk}/", {"decision": "approve", "arguments": "{no"})
    assert bad.status_code == 400 and b"Not valid JSON" in bad.content
    response = client.post(f"/orgs/{org.pk}/agents/approvals/{action.pk}/", {"decision": "approve"})
    assert response.status_code == 302 and PendingAction.objects.get().status == "done"
    assert ghl_contact(ghl, jane)["tags"] == ["vip"]
    per_contact = client.get(f"/orgs/{org.pk}/agents/activity/?contact={jane.pk}")
    assert per_contact.status_code == 200 and b"Approved and done" in per_contact.content
    other = contact_create(organization=org, first_name="Other", email="other@example.com")
    assert b"Approved and done" not in client.get(f"/orgs/{org.pk}/agents/activity/?contact={other.pk}").content
