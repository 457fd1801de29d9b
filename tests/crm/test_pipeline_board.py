"""The owner's pipeline board: columns with counts and totals, cards, the status filter, archived stages, and
moves (menu or drag post the same form) that make the same stage move as the agents' tool."""
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.events import OPPORTUNITY_STAGE_CHANGED, business_event
from crm.models import Contact, CrmUser, Opportunity, PipelineStage
from crm.services.pipelines import pipeline_create
from crm.sync.models import OutboxEntry
from tenancy.services import membership_add, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales(org_factory):
    org = org_factory(name="Smile")
    pipeline = pipeline_create(organization=org, name="Sales", stage_names=["New Lead", "Proposal Sent", "Won"])
    new, proposal, _ = pipeline.stages.order_by("position")
    ann = Contact.objects.create(organization=org, first_name="Ann", full_name="Ann Lee")
    rep = CrmUser.objects.create(organization=org, name="Rita Rep", email="rita@example.com")
    deals = {
        "acme": Opportunity.objects.create(organization=org, name="Acme deal", pipeline=pipeline, stage=new,
                                           contact=ann, monetary_value=Decimal("12500"), assignee=rep),
        "zeta": Opportunity.objects.create(organization=org, name="Zeta", pipeline=pipeline, stage=new,
                                           monetary_value=Decimal("99.50")),
        "lost": Opportunity.objects.create(organization=org, name="Gone cold", pipeline=pipeline, stage=proposal,
                                           status="lost", monetary_value=Decimal("700")),
    }
    other = org_factory(name="Other")
    pipeline_create(organization=other, name="Not mine", stage_names=["X"])
    return org, pipeline, deals


def board_url(org, **query) -> str:
    url = reverse("pipeline_board", kwargs={"org_id": org.pk})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_board_shows_stages_with_counts_totals_and_cards(client, sales):
    org, pipeline, deals = sales
    client.force_login(org.memberships.get().user)

    page = client.get(board_url(org))

    html = page.content.decode()
    assert page.status_code == 200 and "Not mine" not in html
    columns = page.context["columns"]
    assert [(c.stage.name, c.count, c.total) for c in columns] == [
        ("New Lead", 2, Decimal("12599.50")), ("Proposal Sent", 0, Decimal("0")), ("Won", 0, Decimal("0"))]
    assert [d.name for d in columns[0].cards] == ["Acme deal", "Zeta"]
    assert "$12,500.00" in html and "Ann Lee" in html and "Rita Rep" in html and "Unassigned" in html
    assert "Gone cold" not in html  # open deals by default
    assert f'href="/orgs/{org.pk}/pipelines/"' in html  # the nav link


def test_status_filter_and_bad_filters(client, sales):
    org, pipeline, deals = sales
    client.force_login(org.memberships.get().user)

    lost = client.get(board_url(org, status="lost"))
    wrong = client.get(board_url(org, status="maybe"))

    assert [(c.stage.name, c.count) for c in lost.context["columns"] if c.count] == [("Proposal Sent", 1)]
    assert wrong.status_code == 400 and "must be one of" in wrong.content.decode()


def test_a_stage_removed_in_the_crm_still_shows_its_deals(client, sales):
    org, pipeline, deals = sales
    PipelineStage.objects.filter(pk=deals["zeta"].stage_id).update(is_archived=True, position=10)
    client.force_login(org.memberships.get().user)

    columns = client.get(board_url(org)).context["columns"]

    assert [(c.stage.name, c.stage.is_archived, c.count) for c in columns] == [
        ("Proposal Sent", False, 0), ("Won", False, 0), ("New Lead", True, 2)]


def test_an_owner_moves_a_card_as_the_tool_would(client, sales, django_capture_on_commit_callbacks):
    org, pipeline, deals = sales
    proposal = pipeline.stages.get(name="Proposal Sent")
    seen = []
    business_event.connect(lambda sender, **kw: seen.append(kw["event"]), weak=False, dispatch_uid="board-test")
    client.force_login(org.memberships.get().user)
    url = reverse("opportunity_move", kwargs={"org_id": org.pk, "opportunity_id": deals["acme"].pk})

    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, {"stage": proposal.pk}, HTTP_ACCEPT="application/json")
    finally:
        business_event.disconnect(dispatch_uid="board-test")

    assert response.status_code == 200 and response.json()["ok"]
    assert "from New Lead to Proposal Sent" in response.json()["message"]
    deals["acme"].refresh_from_db()
    assert deals["acme"].stage == proposal and deals["acme"].stage_changed_at is not None
    assert seen == [OPPORTUNITY_STAGE_CHANGED]


def test_moves_refused_clearly(client, sales):
    org, pipeline, deals = sales
    outsider_stage = PipelineStage.objects.exclude(organization=org).get()
    owner = org.memberships.get().user
    member = user_create(username="member", password="pw-member-123456")
    membership_add(organization=org, user=member)
    url = reverse("opportunity_move", kwargs={"org_id": org.pk, "opportunity_id": deals["acme"].pk})

    client.force_login(member)
    assert client.post(url, {"stage": pipeline.stages.last().pk}).status_code == 403
    client.force_login(owner)
    wrong = client.post(url, {"stage": outsider_stage.pk}, HTTP_ACCEPT="application/json")
    junk = client.post(url, {"stage": "abc"}, follow=True)
    gone = client.post(reverse("opportunity_move", kwargs={"org_id": org.pk, "opportunity_id": 999999}),
                       {"stage": pipeline.stages.last().pk})

    assert wrong.status_code == 400 and "Pick one of the pipeline's stages" in wrong.json()["message"]
    assert "Pick one of the pipeline" in junk.content.decode()
    assert gone.status_code == 404
    deals["acme"].refresh_from_db()
    assert deals["acme"].stage.name == "New Lead"
    assert not OutboxEntry.objects.exists()  # no connection: nothing queued, and nothing moved


def test_outsiders_get_404(client, sales, org_factory):
    org, _, _ = sales
    stranger = org_factory(name="Elsewhere").memberships.get().user
    client.force_login(stranger)
    assert client.get(board_url(org)).status_code == 404


def test_admin_lists_mirrored_users_and_lost_reasons(client, sales, django_user_model):
    from crm.models import LostReason

    org, _, _ = sales
    LostReason.objects.create(organization=org, name="Price too high")
    staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123456")
    client.force_login(staff)

    users = client.get(reverse("admin:crm_crmuser_changelist"))
    reasons = client.get(reverse("admin:crm_lostreason_changelist"))

    assert users.status_code == 200 and "Rita Rep" in users.content.decode()
    assert reasons.status_code == 200 and "Price too high" in reasons.content.decode()
