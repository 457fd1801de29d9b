"""Agencies: staff list an agency connection's installed locations and assign each to an organization."""
import pytest

from ghl_integration.connections import connection_access_token, connection_connect_from_code
from ghl_integration.models import GhlAgencyLocation, GhlConnection
from ghl_sandbox import constants as sbx
from tenancy.services import user_create


@pytest.mark.django_db
def test_staff_assign_an_agency_location_to_an_organization(admin_client, sandbox, settings, org_factory):
    # given: an agency-level connection (Company token) and a second organization without GHL
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.GHL_APP_ID = sbx.SANDBOX_APP_ID
    owner = user_create(username="agency-owner", password="pw-agency-123456")
    agency_org = org_factory("Agency HQ", owner=owner)
    clinic = org_factory("Downtown Clinic")
    code = sandbox.control.issue_code(companyId=sbx.DEMO_COMPANY_ID, redirectUri=settings.GHL_REDIRECT_URI,
                                      install=True)["code"]
    result = connection_connect_from_code(organization=agency_org, user=owner, code=code)
    agency = result.connection
    assert result.needs_location_choice and agency.token_level == GhlConnection.TokenLevel.COMPANY

    # when: staff fetch the installed locations, then assign the demo location to the clinic
    listing = admin_client.post("/admin/ghl_integration/ghlconnection/",
                                {"action": "list_agency_locations", "_selected_action": [agency.pk]}, follow=True)
    assert ": 1 installed location." in listing.content.decode()  # one demo location, in words that count
    agency_location = GhlAgencyLocation.objects.get(agency_connection=agency, location_id=sbx.DEMO_LOCATION_ID)
    response = admin_client.post(
        f"/admin/ghl_integration/ghlagencylocation/{agency_location.pk}/change/",
        {"assigned_organization": clinic.pk},
        follow=True,
    )

    # then: the clinic has its own location connection, minted from the agency token, that works
    assert response.status_code == 200
    location = GhlConnection.objects.get(organization=clinic)
    assert location.location_id == sbx.DEMO_LOCATION_ID and location.agency_connection == agency
    assert location.refresh_token is None and location.status == GhlConnection.Status.ACTIVE
    agency_location.refresh_from_db()
    assert agency_location.location_connection == location and agency_location.assignment_error == ""
    mints = sandbox.control.request_log(path="/oauth/locationToken")
    assert [m["status"] for m in mints] == [200]

    # and: when the minted token has expired, it is minted again rather than refreshed
    GhlConnection.objects.filter(pk=location.pk).update(token_expires_at=None)
    assert connection_access_token(connection_id=location.pk)
    assert len(sandbox.control.request_log(path="/oauth/locationToken")) == 2
    assert sandbox.control.request_log(path="/oauth/token", grant_type="refresh_token") == []
