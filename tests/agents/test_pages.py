"""The owner's agents page and activity timeline (owner/admin only), and the staff admin."""
import pytest

from agents.models import Agent, ApiKey, ToolCall
from agents.services import agent_create, api_key_authenticate, api_key_create
from agents.tools.dispatch import tool_call
from tenancy.models import Membership
from tenancy.services import membership_add, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, org):
    client.force_login(org.memberships.get(role=Membership.Role.OWNER).user)
    return client


def test_an_owner_creates_an_agent_and_sees_its_key_once(owner_client, org):
    response = owner_client.post(f"/orgs/{org.pk}/agents/", {"name": "Receptionist", "families": ["contacts"]})
    assert response.status_code == 200
    raw = response.context["new_key"]
    assert raw.encode() in response.content and api_key_authenticate(raw=raw).agent.name == "Receptionist"
    assert Agent.objects.for_org(org).get(name="Receptionist").enabled_families == ["contacts"]
    again = owner_client.get(f"/orgs/{org.pk}/agents/")
    assert raw.encode() not in again.content and b"Receptionist" in again.content


def test_an_owner_revokes_a_key(owner_client, org, agent):
    key, raw = api_key_create(agent=agent)
    response = owner_client.post(f"/orgs/{org.pk}/agents/keys/{key.pk}/revoke/")
    assert response.status_code == 302 and api_key_authenticate(raw=raw) is None


def test_a_duplicate_agent_name_is_a_form_error(owner_client, org, agent):
    response = owner_client.post(f"/orgs/{org.pk}/agents/", {"name": agent.name})
    assert response.status_code == 400 and b"already has an agent" in response.content


def test_members_and_outsiders_cannot_manage_agents(client, org, org_factory, agent):
    member = user_create(username="member", password="pw-member-123456")
    membership_add(organization=org, user=member)
    client.force_login(member)
    assert client.get(f"/orgs/{org.pk}/agents/").status_code == 403
    other = org_factory("Other")
    client.force_login(other.memberships.first().user)
    assert client.get(f"/orgs/{org.pk}/agents/").status_code == 404
    key = api_key_create(agent=agent)[0]
    assert client.post(f"/orgs/{other.pk}/agents/keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_the_activity_timeline_shows_calls_without_secrets(owner_client, org, agent, key):
    tool_call(tool_name="find_contact", arguments={"query": "jane", "api_token": "s3cr3t"}, surface="rest",
              api_key=key)
    tool_call(tool_name="find_contact", arguments={"query": "jane"}, surface="rest", api_key=key)
    response = owner_client.get(f"/orgs/{org.pk}/agents/activity/")
    assert response.status_code == 200
    assert response.content.count(b"find_contact") >= 2 and b"s3cr3t" not in response.content
    assert key.encode() not in response.content


def test_staff_see_the_audit_and_create_keys_in_admin(admin_client, org, agent, key):
    tool_call(tool_name="find_contact", arguments={"query": "jane"}, surface="rest", api_key=key)
    call = ToolCall.objects.get()
    assert admin_client.get("/admin/agents/toolcall/").status_code == 200
    assert admin_client.get(f"/admin/agents/toolcall/{call.pk}/change/").status_code == 200
    response = admin_client.post("/admin/agents/agent/", {"action": "create_key", "_selected_action": [agent.pk]},
                                 follow=True)
    assert response.status_code == 200 and ApiKey.objects.filter(agent=agent).count() == 2
    assert admin_client.get("/admin/agents/apikey/").status_code == 200


def test_another_agent_in_another_org_may_share_a_name(org_factory):
    a, b = org_factory("A"), org_factory("B")
    assert agent_create(organization=a, name="bot").name == agent_create(organization=b, name="bot").name


def test_an_owner_enables_the_context_family_of_an_existing_agent(owner_client, org, client):
    agent = agent_create(organization=org, name="Narrow", enabled_families=["contacts"])
    raw = api_key_create(agent=agent)[1]
    page = owner_client.get(f"/orgs/{org.pk}/agents/")
    assert b'name="families" value="context"' in page.content

    response = owner_client.post(f"/orgs/{org.pk}/agents/{agent.pk}/settings/", {
        "write_policy": "auto", "off_hours": "wait", "families_shown": "1", "families": ["contacts", "context"]})

    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.enabled_families == ["contacts", "context"]
    listed = client.get("/api/agent/tools/", HTTP_AUTHORIZATION=f"Bearer {raw}").json()["result"]["tools"]
    names = {t["name"] for t in listed}
    assert {"get_business_context", "list_users", "find_contact"} <= names and "book_appointment" not in names
    # a settings post without the family boxes (an older form) leaves the families as they are
    owner_client.post(f"/orgs/{org.pk}/agents/{agent.pk}/settings/", {"write_policy": "auto", "off_hours": "wait"})
    agent.refresh_from_db()
    assert agent.enabled_families == ["contacts", "context"]
    bad = owner_client.post(f"/orgs/{org.pk}/agents/{agent.pk}/settings/", {
        "write_policy": "auto", "off_hours": "wait", "families_shown": "1", "families": ["nope"]})
    assert bad.status_code == 400 and b"Unknown tool families" in bad.content
