"""The settings page's contact sync section: conflict/delete policy and field mapping forms."""
import pytest
from django.urls import reverse

from crm.sync.conflict import policy_table_for
from crm.sync.models import FieldMapping
from ghl_integration.models import GhlConnection
from tests.factories import MembershipFactory, UserFactory

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(connected, client, owner):
    client.force_login(owner)
    org_id = connected.organization_id
    return {
        "settings": reverse("ghl_settings", kwargs={"org_id": org_id}),
        "policy": reverse("ghl_sync_policy", kwargs={"org_id": org_id}),
        "mapping": reverse("ghl_field_mapping", kwargs={"org_id": org_id}),
        "custom": reverse("ghl_custom_fields_refresh", kwargs={"org_id": org_id}),
    }


def test_the_section_shows_policy_and_default_mapping(connected, client, page):
    html = client.get(page["settings"]).content.decode()
    assert 'id="ghl-contact-sync-settings"' in html
    assert 'value="newest_wins" selected' in html and 'value="keep" selected' in html
    assert 'data-remote-key="firstName"' in html


def test_owner_sets_the_conflict_and_delete_policy(connected, client, page):
    response = client.post(page["policy"], {"conflict_policy": "remote_wins", "delete_policy": "delete"})
    assert response.status_code == 302
    table = policy_table_for(organization=connected.organization, provider="ghl", account_id=LOCATION_ID)
    assert table.policy_for("first_name") == "remote_wins" and table.policy_for("tags") == "merge_sets"
    assert GhlConnection.objects.get(pk=connected.pk).config["delete_policy"] == "delete"
    assert 'value="remote_wins" selected' in client.get(page["settings"]).content.decode()


def test_an_unknown_policy_is_refused(connected, client, page):
    response = client.post(page["policy"], {"conflict_policy": "coin_flip", "delete_policy": "keep"})
    assert response.status_code == 400 and b"conflict_policy" in response.content


def test_owner_maps_a_custom_field_with_its_type_checked(ghl, connected, client, page):
    assert client.post(page["custom"]).status_code == 302  # loads the location's custom fields from GHL
    fields = GhlConnection.objects.get(pk=connected.pk).config["contact_custom_fields"]
    dentist = next(f for f in fields if f["fieldKey"] == "contact.preferred_dentist")
    response = client.post(page["mapping"], {"remote_key": f"customFields.{dentist['id']}",
                                             "local_field": "custom_properties.dentist", "data_type": "text",
                                             "direction": "both", "is_active": "on"})
    assert response.status_code == 302
    row = FieldMapping.objects.get(remote_key=f"customFields.{dentist['id']}")
    assert (row.local_field, row.data_type, row.is_active) == ("custom_properties.dentist", "text", True)
    assert dentist["name"] in client.get(page["settings"]).content.decode()


@pytest.mark.parametrize("data, field", [
    ({"remote_key": "firstName", "local_field": "no_such_field", "data_type": "text"}, "local_field"),
    ({"remote_key": "dnd", "local_field": "first_name", "data_type": "text"}, "data_type"),
    ({"remote_key": "firstName", "local_field": "date_of_birth", "data_type": "text"}, "local_field"),
    ({"remote_key": "nonsense", "local_field": "first_name", "data_type": "text"}, "remote_key"),
])
def test_invalid_mappings_are_refused_with_the_reason(connected, client, page, data, field):
    before = list(FieldMapping.objects.order_by("pk").values())  # the custom fields loaded when connecting

    response = client.post(page["mapping"], {**data, "direction": "both", "is_active": "on"})

    assert response.status_code == 400
    assert f'data-field="{field}"'.encode() in response.content
    assert list(FieldMapping.objects.order_by("pk").values()) == before


def test_a_mapping_error_recorded_by_a_push_is_shown_on_the_mapping(connected, client, page):
    FieldMapping.objects.create(organization=connected.organization, provider="ghl", account_id=LOCATION_ID,
                                remote_key="customFields.gone", local_field="custom_properties.gone",
                                last_error="GHL rejected this field: unknown custom field")
    html = client.get(page["settings"]).content.decode()
    assert "GHL rejected this field: unknown custom field" in html


def test_members_and_outsiders_cannot_change_sync_settings(connected, client, page):
    member = MembershipFactory(organization=connected.organization, role="member").user
    outsider = UserFactory()
    data = {"conflict_policy": "local_wins", "delete_policy": "delete"}
    client.force_login(member)
    assert client.post(page["policy"], data).status_code == 403
    assert client.post(page["mapping"], {"remote_key": "city", "local_field": "city",
                                         "data_type": "text"}).status_code == 403
    client.force_login(outsider)
    assert client.post(page["policy"], data).status_code == 404
    assert "delete_policy" not in GhlConnection.objects.get(pk=connected.pk).config


def test_the_forms_need_a_csrf_token(connected, owner, page):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(page["policy"], {"conflict_policy": "local_wins", "delete_policy": "keep"}).status_code == 403
