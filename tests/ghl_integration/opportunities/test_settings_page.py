"""The settings page's opportunity section: the deals' own conflict policy and the mapping of GHL's opportunity
custom fields (loaded from the sandbox over HTTP), owner only, errors beside the fields."""
import pytest
from django.urls import reverse

from crm.sync.conflict import policy_table_for
from crm.sync.models import FieldMapping
from tests.factories import MembershipFactory, UserFactory

from .conftest import LOCATION

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(connection, client, org):
    client.force_login(org.memberships.get().user)
    urls = {name: reverse(name, kwargs={"org_id": org.pk}) for name in (
        "ghl_settings", "ghl_opportunity_policy", "ghl_opportunity_mapping", "ghl_opportunity_mapping_remove",
        "ghl_opportunity_custom_fields_refresh")}
    assert client.post(urls["ghl_opportunity_custom_fields_refresh"]).status_code == 302  # GHL's fields → rows
    return urls


def treatment(org) -> FieldMapping:
    return FieldMapping.objects.for_org(org).get(object_type="opportunity",
                                                 local_field="custom_properties.treatment_interest")


def test_the_section_lists_the_rows_made_from_ghls_fields(org, client, page):
    html = client.get(page["ghl_settings"]).content.decode()

    assert 'id="ghl-opportunity-sync-settings"' in html
    assert f'data-remote-key="{treatment(org).remote_key}"' in html and "Treatment interest" in html


def test_the_owner_sets_the_deals_policy_apart_from_the_contacts(org, client, page):
    response = client.post(page["ghl_opportunity_policy"], {"opportunity_conflict_policy": "local_wins"})

    assert response.status_code == 302
    deals = policy_table_for(organization=org, provider="ghl", account_id=LOCATION, object_type="opportunity")
    contacts = policy_table_for(organization=org, provider="ghl", account_id=LOCATION)
    assert (deals.policy_for("monetary_value"), contacts.policy_for("first_name")) == ("local_wins", "newest_wins")
    assert 'value="local_wins" selected' in client.get(page["ghl_settings"]).content.decode()


def test_an_unknown_policy_is_refused_beside_its_field(client, page):
    response = client.post(page["ghl_opportunity_policy"], {"opportunity_conflict_policy": "coin_flip"})

    assert response.status_code == 400 and b'data-field="opportunity_conflict_policy"' in response.content


def test_the_owner_remaps_and_switches_off_a_field(org, client, page, django_capture_on_commit_callbacks):
    row = treatment(org)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(page["ghl_opportunity_mapping"], {
            "remote_key": row.remote_key, "local_field": "custom_properties.interest", "data_type": "text",
            "direction": "inbound", "is_active": "on"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.local_field, row.direction, row.is_active) == ("custom_properties.interest", "inbound", True)

    assert client.post(page["ghl_opportunity_mapping_remove"], {"remote_key": row.remote_key}).status_code == 302
    row.refresh_from_db()
    assert row.is_active is False


def test_a_bad_mapping_is_answered_400_with_the_error_and_the_input_kept(org, client, page):
    response = client.post(page["ghl_opportunity_mapping"], {
        "remote_key": treatment(org).remote_key, "local_field": "monetary_value", "data_type": "text",
        "direction": "both", "is_active": "on"})

    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-field="local_field"' in html and "filled from GHL&#x27;s own opportunity field" in html
    assert 'value="monetary_value"' in html
    assert treatment(org).local_field == "custom_properties.treatment_interest"


def test_a_member_who_is_not_a_manager_cannot_change_it(org, client, page):
    member = UserFactory()
    MembershipFactory(user=member, organization=org, role="member")
    client.force_login(member)

    response = client.post(page["ghl_opportunity_policy"], {"opportunity_conflict_policy": "local_wins"})

    assert response.status_code in (302, 403)
    assert policy_table_for(organization=org, provider="ghl", account_id=LOCATION,
                            object_type="opportunity").policy_for("*") == "newest_wins"
