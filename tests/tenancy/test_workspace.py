"""The workspace layout: the organization's areas in the navigation, the landing page, error answers."""
import re

import pytest

from tenancy.models import Membership
from tests.factories import MembershipFactory, UserFactory


def _nav(page: str) -> str:
    match = re.search(r'<ul id="workspace-nav">(.*?)</ul>', page, re.S)
    return match.group(1) if match else ""


@pytest.mark.django_db
def test_an_owner_sees_every_area_and_the_current_one_marked(client, org_factory):
    org = org_factory("Bright Smiles")
    client.force_login(org.memberships.get().user)

    nav = _nav(client.get(f"/orgs/{org.pk}/calendars/").content.decode())

    assert f'<a href="/orgs/{org.pk}/calendars/" aria-current="page">Calendar</a>' in nav
    assert f'<a href="/orgs/{org.pk}/agents/">Agents</a>' in nav
    assert f'<a href="/orgs/{org.pk}/integrations/ghl/">GoHighLevel</a>' in nav


@pytest.mark.django_db
def test_a_member_sees_only_the_areas_they_may_open(client, org_factory):
    org = org_factory()
    member = MembershipFactory(organization=org, role=Membership.Role.MEMBER).user
    client.force_login(member)

    nav = _nav(client.get(f"/orgs/{org.pk}/calendars/").content.decode())

    assert "Calendar" in nav
    assert "Agents" not in nav and "GoHighLevel" not in nav


@pytest.mark.django_db
def test_the_home_page_links_each_organizations_areas(client, org_factory):
    owner = UserFactory()
    mine = org_factory("Mine", owner=owner)
    theirs = org_factory("Theirs")
    MembershipFactory(organization=theirs, user=owner, role=Membership.Role.MEMBER)
    client.force_login(owner)

    page = client.get("/").content.decode()

    assert f'href="/orgs/{mine.pk}/integrations/ghl/"' in page and "Start here" in page
    assert f'href="/orgs/{theirs.pk}/calendars/"' in page
    assert f'href="/orgs/{theirs.pk}/integrations/ghl/"' not in page


@pytest.mark.django_db
def test_a_member_refused_a_managers_page_reads_why(client, org_factory):
    org = org_factory()
    client.force_login(MembershipFactory(organization=org, role=Membership.Role.MEMBER).user)

    response = client.get(f"/orgs/{org.pk}/agents/")

    assert response.status_code == 403
    page = response.content.decode()
    assert "Only an owner or admin of this organization can open this page." in page and "<title>" in page


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/no/such/tool/", "/webhooks/nothing-here/"])
def test_a_missing_api_path_answers_json(client, settings, path):
    settings.DEBUG = False

    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"ok": False,
                               "error": {"code": "not_found", "message": "There is nothing at this address."}}


@pytest.mark.django_db
def test_a_program_asking_a_post_only_page_gets_json(client, org_factory):
    org = org_factory()
    client.force_login(org.memberships.get().user)

    response = client.get(f"/orgs/{org.pk}/integrations/ghl/connect/", HTTP_ACCEPT="application/json")

    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["error"] == {"code": "method_not_allowed", "allowed": ["POST"],
                                        "message": "This address does not answer to that method."}


@pytest.mark.django_db
@pytest.mark.urls("tests.tenancy.boom_urls")
def test_a_failure_is_a_page_for_a_person_and_json_for_a_program(client, settings):
    settings.DEBUG = False
    client.raise_request_exception = False

    page = client.get("/boom/")
    api = client.get("/api/boom/")

    assert page.status_code == 500 and "Something went wrong" in page.content.decode()
    assert "a bug" not in page.content.decode()
    assert api.status_code == 500 and api.json()["error"]["code"] == "server_error"
