"""Pages a person sees when something is off: titles, error pages, the favicon, the admin's names."""
import pytest
from django.contrib import admin
from django.contrib.staticfiles import finders

from ghl_integration.models import GhlAgencyLocation, GhlConnection, WebhookEvent


@pytest.mark.django_db
def test_settings_page_title_is_plain_text(client, org_factory):
    org = org_factory("Bright Smiles")
    client.force_login(org.memberships.get().user)

    page = client.get(f"/orgs/{org.pk}/integrations/ghl/").content.decode()

    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title and ">" not in title
    assert title == "GoHighLevel · Bright Smiles · AgentLevel"


@pytest.mark.django_db
def test_get_of_a_post_only_url_explains_itself(client, org_factory):
    org = org_factory()
    client.force_login(org.memberships.get().user)

    response = client.get(f"/orgs/{org.pk}/integrations/ghl/connect/", HTTP_ACCEPT="text/html")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    body = response.content.decode()
    assert "only answers to a form or a button" in body and "<title>" in body


@pytest.mark.django_db
def test_a_405_with_a_json_body_is_left_alone(client):
    response = client.get("/webhooks/ghl/", HTTP_ACCEPT="application/json")

    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_missing_page_is_a_friendly_404(client, settings):
    settings.DEBUG = False

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.django_db
def test_pages_link_a_favicon_that_exists(client):
    page = client.get("/accounts/login/").content.decode()

    assert 'rel="icon"' in page and "favicon.svg" in page
    assert client.get("/favicon.ico")["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")


def test_admin_names_ghl_models_in_words():
    names = {model._meta.verbose_name_plural for model in (GhlConnection, GhlAgencyLocation, WebhookEvent)}
    assert names == {"GHL connections", "GHL agency locations", "GHL webhook events"}
    assert admin.site.is_registered(GhlConnection)
