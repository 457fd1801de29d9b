"""Admin never writes tenant data around the services (#20): mirrored rows are read-only, archiving is offered
only where a service archives, appointments are not booked here, and what remains goes through the services."""
import pytest

from agents.models import Agent, Trigger
from agents.services import agent_create
from agents.triggers.services import trigger_create
from crm.models import Calendar, CrmUser, LostReason, Pipeline, PipelineStage
from crm.services.calendars import calendar_create
from crm.services.contacts import contact_create
from crm.services.conversations import conversation_get_or_create, message_record
from crm.services.pipelines import pipeline_create
from crm.sync.models import ConflictPolicy, ConflictPolicyChoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(org_factory):
    return org_factory("Bright Smiles")


def _mirrors(org):
    pipeline = pipeline_create(organization=org, name="Sales", stage_names=["New", "Won"])
    contact = contact_create(organization=org, first_name="Jane", email="jane@example.com")
    conversation = conversation_get_or_create(contact=contact, channel="sms")
    return {
        "pipeline": pipeline,
        "pipelinestage": pipeline.stages.first(),
        "crmuser": CrmUser.objects.create(organization=org, name="Dr Who", email="who@example.com"),
        "lostreason": LostReason.objects.create(organization=org, name="Too pricey"),
        "calendar": calendar_create(organization=org, name="Chairs"),
        "conversation": conversation,
        "message": message_record(contact=contact, channel="sms", direction="outbound", body="Hi"),
    }


def test_mirrored_rows_cannot_be_added_changed_or_archived_in_admin(admin_client, org):
    for model, row in _mirrors(org).items():
        base = f"/admin/crm/{model}/"
        listing = admin_client.get(base)
        assert listing.status_code == 200, model
        page = listing.content.decode()
        assert "archive_selected" not in page and "delete_selected" not in page, model
        assert admin_client.get(f"{base}add/").status_code == 403, model
        # the change page shows the row, read-only: a POST changes nothing
        assert admin_client.get(f"{base}{row.pk}/change/").status_code == 200, model
        assert admin_client.post(f"{base}{row.pk}/change/", {"name": "Renamed", "body": "Changed"}).status_code == 403
        # an archive action posted anyway is refused by the admin (not one of the actions)
        admin_client.post(base, {"action": "archive_selected", "_selected_action": [row.pk]})
        row.refresh_from_db()
        assert not getattr(row, "is_archived", False), model

    assert Pipeline.objects.get().name == "Sales" and not PipelineStage.objects.filter(is_archived=True).exists()
    assert Calendar.objects.get().name == "Chairs" and LostReason.objects.get().name == "Too pricey"


def test_an_appointment_is_not_booked_or_archived_in_admin(admin_client, org):
    page = admin_client.get("/admin/crm/appointment/").content.decode()

    assert admin_client.get("/admin/crm/appointment/add/").status_code == 403
    assert "archive_selected" not in page


def test_conflict_policies_are_read_only_in_admin(admin_client, org):
    policy = ConflictPolicy.objects.create(organization=org, provider="ghl", account_id="loc", field="email",
                                           policy=ConflictPolicyChoice.REMOTE_WINS)

    listing = admin_client.get("/admin/crm/conflictpolicy/").content.decode()
    changed = admin_client.post(f"/admin/crm/conflictpolicy/{policy.pk}/change/", {"policy": "local_wins"})

    assert 'name="form-0-policy"' not in listing
    assert changed.status_code == 403
    policy.refresh_from_db()
    assert policy.policy == ConflictPolicyChoice.REMOTE_WINS


def test_agents_are_changed_on_the_owners_page_and_triggers_switch_through_the_service(admin_client, org):
    agent = agent_create(organization=org, name="Front desk")
    trigger, _ = trigger_create(agent=agent, name="Welcome", event="contact.created")

    assert admin_client.get("/admin/agents/agent/add/").status_code == 403
    admin_client.post(f"/admin/agents/agent/{agent.pk}/change/", {"name": "Renamed", "write_policy": "bogus"})
    agent.refresh_from_db()
    assert agent.name == "Front desk"

    response = admin_client.post("/admin/agents/trigger/", {"action": "switch_off", "_selected_action": [trigger.pk]},
                                 follow=True)
    assert "Switched off 1 trigger(s)." in response.content.decode()
    assert Trigger.objects.get(pk=trigger.pk).is_active is False
    assert Agent.objects.get(pk=agent.pk).is_active is True
