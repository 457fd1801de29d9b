"""Pages name things: the agency by its name, the location chosen, the contact a conflict is about; refusals
say what to do."""
import json
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.models import Contact
from crm.services.contacts import contact_create
from crm.sync.models import SyncConflict
from ghl_integration.connections import connection_connect_from_code
from ghl_integration.connections.install_state import app_installed
from ghl_integration.models import GhlConnection
from ghl_sandbox import constants as sbx
from tenancy.services import user_create

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ghl" / "webhooks"


def _connect_agency(sandbox, settings, org_factory, *, scope: str | None = None):
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.GHL_APP_ID = sbx.SANDBOX_APP_ID
    owner = user_create(username="agency-owner", password="pw-agency-123456")
    org = org_factory("Bright Smiles", owner=owner)
    code = sandbox.control.issue_code(companyId=sbx.DEMO_COMPANY_ID, redirectUri=settings.GHL_REDIRECT_URI,
                                      install=True, **({"scope": scope} if scope is not None else {}))["code"]
    connection_connect_from_code(organization=org, user=owner, code=code)
    return org, owner


@pytest.fixture
def agency_org(sandbox, settings, org_factory):
    return _connect_agency(sandbox, settings, org_factory)


@pytest.mark.django_db
def test_the_agency_is_named_as_soon_as_it_connects_and_its_card_follows_the_choice(client, agency_org, sandbox):
    org, owner = agency_org
    client.force_login(owner)
    settings_url = f"/orgs/{org.pk}/integrations/ghl/"

    # right after connecting, before any install event and before a location is chosen
    page = client.get(settings_url).content.decode()
    assert sbx.DEMO_COMPANY_ID not in page
    assert "Connected to the agency AgentLevel Demo Agency" in page
    assert "choose the location</a> this organization uses" in page
    assert sandbox.control.request_log(path=f"/companies/{sbx.DEMO_COMPANY_ID}")

    client.post(f"/orgs/{org.pk}/integrations/ghl/choose-location/", {"location_id": sbx.DEMO_LOCATION_ID})

    page = client.get(settings_url).content.decode()
    assert '<dd id="via-agency">AgentLevel Demo Agency</dd>' in page
    assert f"this organization uses its location <strong>{sbx.DEMO_LOCATION_NAME}</strong>" in page
    assert "Use another location" in page and "choose the location</a>" not in page


@pytest.mark.django_db
def test_an_agency_that_did_not_grant_company_reads_is_named_by_the_install_event(client, sandbox, settings,
                                                                                   org_factory):
    scope = " ".join(s for s in sbx.COMPANY_SCOPES if s != "companies.readonly")
    org, owner = _connect_agency(sandbox, settings, org_factory, scope=scope)
    client.force_login(owner)
    settings_url = f"/orgs/{org.pk}/integrations/ghl/"

    page = client.get(settings_url).content.decode()
    assert sbx.DEMO_COMPANY_ID not in page and "your GoHighLevel agency" in page

    payload = {**json.loads((FIXTURES / "AppInstall.json").read_text()), "companyId": sbx.DEMO_COMPANY_ID,
               "locationId": sbx.DEMO_LOCATION_ID}
    app_installed(location_id=sbx.DEMO_LOCATION_ID, company_id=sbx.DEMO_COMPANY_ID, at=timezone.now(),
                  payload=payload)
    client.post(f"/orgs/{org.pk}/integrations/ghl/choose-location/", {"location_id": sbx.DEMO_LOCATION_ID})

    page = client.get(settings_url).content.decode()
    assert '<dd id="via-agency">Bright Smile Agency</dd>' in page


@pytest.mark.django_db
def test_a_resync_of_an_agency_connection_says_what_to_do(admin_client, agency_org):
    org, _ = agency_org
    agency = GhlConnection.objects.get(organization=org, token_level=GhlConnection.TokenLevel.COMPANY)

    response = admin_client.post("/admin/ghl_integration/ghlconnection/",
                                 {"action": "resync_contacts", "_selected_action": [agency.pk]}, follow=True)

    page = response.content.decode()
    assert "not resynced: this is an agency connection; contacts sync per location" in page
    assert "is active" not in page


@pytest.mark.django_db
def test_a_conflict_is_named_after_its_contact_in_admin(admin_client, org_factory):
    org = org_factory()
    contact = contact_create(organization=org, first_name="Jane", last_name="Doe")
    conflict = SyncConflict.objects.create(
        organization=org, provider="ghl", account_id="loc", content_type=ContentType.objects.get_for_model(Contact),
        object_id=contact.pk, field="city", local_value="Portland", remote_value="Salem", policy="remote_wins",
        decision="remote")

    listing = admin_client.get("/admin/crm/syncconflict/").content.decode()
    change = admin_client.get(f"/admin/crm/syncconflict/{conflict.pk}/change/").content.decode()

    assert "<td class=\"field-record\">Jane Doe</td>" in listing
    assert "city of Jane Doe: remote value applied" in change
    assert "Object ID" not in listing
