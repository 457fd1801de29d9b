"""Custom fields edited on the owner's contact page reach GHL (the sandbox, over HTTP), typed as GHL types them."""
import pytest

from crm.models import Contact, ExternalIdentity
from crm.sync.models import FieldMapping
from ghl_integration.contacts.outbound import contacts_push_pending
from tests.factories import sandbox_connect

from .conftest import LOCATION_ID, ghl_contact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fields(ghl):
    """GHL custom fields of several types, made in the location before it is connected."""
    made = {}
    for name, data_type, options in (("Preferred time", "SINGLE_OPTIONS", ["Morning", "Afternoon"]),
                                     ("Services", "MULTIPLE_OPTIONS", ["Cleaning", "Whitening", "Braces"]),
                                     ("Visits", "NUMERICAL", None), ("Last visit", "DATE", None)):
        made[name] = ghl.control.change("customField.create", locationId=LOCATION_ID, name=name,
                                        dataType=data_type, picklistOptions=options)["customField"]
    return made


@pytest.fixture
def connected_with_fields(ghl, fields, org_factory, owner, resolver, no_notifier):
    org = org_factory("Demo Dental", owner=owner)
    return sandbox_connect(ghl, organization=org, user=owner, location_id=LOCATION_ID)


def _values(remote: dict, fields: dict) -> dict:
    by_id = {cf["id"]: cf["value"] for cf in remote.get("customFields") or []}
    return {name: by_id.get(field["id"]) for name, field in fields.items()}


def test_the_mapping_knows_each_fields_type_and_allowed_values(connected_with_fields, fields):
    rows = {row.remote_label: row for row in FieldMapping.objects.filter(
        organization=connected_with_fields.organization, remote_key__startswith="customFields.")}

    assert (rows["Preferred time"].data_type, rows["Preferred time"].options) == ("text", ["Morning", "Afternoon"])
    assert (rows["Services"].data_type, rows["Services"].options) == ("list", ["Cleaning", "Whitening", "Braces"])
    assert (rows["Visits"].data_type, rows["Visits"].options) == ("number", [])
    assert rows["Last visit"].data_type == "date"


def test_custom_fields_set_and_edited_on_the_page_are_in_ghl(client, ghl, connected_with_fields, fields, owner):
    org = connected_with_fields.organization
    client.force_login(owner)

    # when: the owner adds a contact with custom fields
    response = client.post(f"/orgs/{org.pk}/contacts/new/", {
        "first_name": "Ada", "email": "ada@example.com", "cf_preferred_time": "Morning",
        "cf_services": ["Cleaning", "Braces"], "cf_visits": "2", "cf_last_visit": "2026-11-30"})
    assert response.status_code == 302
    contacts_push_pending(connection_id=connected_with_fields.pk)
    contact = Contact.objects.for_org(org).get(email="ada@example.com")
    remote_id = ExternalIdentity.objects.get(provider="ghl", account_id=LOCATION_ID, object_id=contact.pk).external_id

    # then
    assert _values(ghl_contact(ghl, remote_id), fields) == {
        "Preferred time": "Morning", "Services": ["Cleaning", "Braces"], "Visits": 2, "Last visit": "2026-11-30"}

    # when: the owner changes one of them (the page posts the others as they were shown)
    form = client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/").content.decode()
    assert '<option value="Morning" selected>Morning</option>' in form
    shown = {"first_name": "Ada", "email": "ada@example.com", "cf_preferred_time": "Morning",
             "cf_services": ["Cleaning", "Braces"], "cf_visits": "2", "cf_last_visit": "2026-11-30"}
    data = {**shown, **{f"initial-{k}": v for k, v in shown.items()}, "cf_preferred_time": "Afternoon"}
    assert client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", data).status_code == 302
    contacts_push_pending(connection_id=connected_with_fields.pk)

    # then: GHL has the new value and the others as they were
    assert _values(ghl_contact(ghl, remote_id), fields) == {
        "Preferred time": "Afternoon", "Services": ["Cleaning", "Braces"], "Visits": 2, "Last visit": "2026-11-30"}
    page = client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").content.decode()
    assert "<dt>Preferred time</dt><dd>Afternoon</dd>" in page and ">Synced<" in page


def test_load_custom_fields_gives_existing_rows_ghls_names_and_allowed_values(client, connected_with_fields, owner):
    org = connected_with_fields.organization
    # rows made before the allowed values were kept, or renamed in GHL since
    FieldMapping.objects.filter(organization=org, remote_label="Preferred time").update(options=[], remote_label="x")
    client.force_login(owner)

    response = client.post(f"/orgs/{org.pk}/integrations/ghl/sync/custom-fields/")

    assert response.status_code == 302
    row = FieldMapping.objects.get(organization=org, local_field="custom_properties.preferred_time")
    assert (row.remote_label, row.options) == ("Preferred time", ["Morning", "Afternoon"])
    form = client.get(f"/orgs/{org.pk}/contacts/new/").content.decode()
    assert '<option value="Afternoon">Afternoon</option>' in form
