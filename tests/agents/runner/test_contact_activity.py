"""An owner's run that acted on a person shows on that person's activity, with its calls inside it."""
import pytest

from agents.models import AgentRun, ToolCall
from crm.services.contacts import contact_create

from .test_runs import run_now, tag_rule

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_started_for_nobody_shows_on_the_activity_of_the_person_it_tagged(fake_model, agent, connected, org,
                                                                                 client):
    # given
    jane = contact_create(organization=org, first_name="Jane", last_name="Roe", email="jane.roe@example.com")
    other = contact_create(organization=org, first_name="Ed", last_name="Poe", email="ed.poe@example.com")
    tag_rule(fake_model)

    # when the owner asks the agent, naming her only in words
    run = run_now(agent, "tag Jane Roe as vip")

    # then the call names her and its run, and her activity lists the run (not the call twice)
    assert run.status == AgentRun.Status.SUCCEEDED and run.contact_id is None, run.failure_reason
    [tagging] = ToolCall.objects.filter(tool="add_tags")
    assert (tagging.contact_id, tagging.run_id, tagging.surface) == (jane.pk, run.pk, "runner")
    client.force_login(org.memberships.first().user)
    page = client.get(f"/orgs/{org.pk}/agents/activity/", {"contact": jane.pk}).content.decode()
    assert f"/agents/runs/{run.pk}/" in page and "<code>add_tags</code>" not in page
    assert f"/agents/runs/{run.pk}/" not in client.get(f"/orgs/{org.pk}/agents/activity/",
                                                       {"contact": other.pk}).content.decode()
