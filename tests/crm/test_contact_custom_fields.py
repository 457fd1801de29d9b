"""Custom fields on the owner's contact form: one input per field by the type its mapping knows, checked by
the services like every other field, errors in place with the input kept, only the edited ones queued."""
import pytest
from django.core.exceptions import ValidationError

from crm.models import Contact
from crm.services.contacts import contact_create, contact_update
from crm.sync.models import FieldMapping, OutboxEntry
from crm.sync.origin import sync_origin

pytestmark = pytest.mark.django_db

ACCOUNT = "loc-custom"
FIELDS = [  # (key, label, data type, allowed values, direction)
    ("preferred_dentist", "Preferred dentist", "text", [], "both"),
    ("visits", "Visits", "number", [], "both"),
    ("last_visit", "Last visit", "date", [], "both"),
    ("preferred_time", "Preferred time", "text", ["Morning", "Afternoon"], "both"),
    ("services", "Services", "list", ["Cleaning", "Whitening", "Braces"], "both"),
    ("nicknames", "Nicknames", "list", [], "both"),
    ("score", "Lead score", "number", [], "inbound"),
]


@pytest.fixture
def org(org_factory):
    org = org_factory("Bright Smiles")
    for n, (key, label, data_type, options, direction) in enumerate(FIELDS):
        FieldMapping.objects.create(organization=org, provider="ghl", account_id=ACCOUNT, object_type="contact",
                                    remote_key=f"customFields.F{n}", remote_label=label,
                                    local_field=f"custom_properties.{key}", data_type=data_type, options=options,
                                    direction=direction)
    return org


@pytest.fixture
def owner_client(client, org):
    client.force_login(org.memberships.get().user)
    return client


@pytest.fixture
def synced(org, monkeypatch):
    """Local edits of the organization's contacts are queued for the account (as a connection makes them)."""
    from crm.sync import targets

    monkeypatch.setitem(targets._resolvers, "custom-test",
                        {"contact": lambda organization_id: [("ghl", ACCOUNT)] if organization_id == org.pk else []})


def _edit_form(contact: Contact, **fields) -> dict:
    """What the edit page posts: every field as it was shown, with ``fields`` typed over them."""
    shown = {"first_name": contact.first_name, "email": contact.email}
    custom = contact.custom_properties or {}
    for key, *_ in FIELDS:
        value = custom.get(key)
        shown[f"cf_{key}"] = ", ".join(value) if key == "nicknames" and value else value if value is not None else ""
    data = {}
    for name, value in shown.items():
        data[f"initial-{name}"] = value
        data[name] = fields.pop(name, value)
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_the_form_offers_each_custom_field_with_the_input_of_its_type(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane", custom_properties={"score": 7})

    page = owner_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/").content.decode()

    assert "Custom fields" in page
    assert '<input type="text" name="cf_preferred_dentist"' in page
    assert '<input type="number" name="cf_visits" step="any"' in page
    assert '<input type="date" name="cf_last_visit"' in page
    assert '<select name="cf_preferred_time"' in page and '<option value="Afternoon">Afternoon</option>' in page
    assert page.count('type="checkbox" name="cf_services"') == 3 and 'value="Whitening"' in page
    assert '<input type="text" name="cf_nicknames"' in page
    # filled from the account only: shown with its value, not editable
    assert 'name="cf_score" value="7" step="any" disabled' in page and "edit it there" in page
    assert "Lead score" in page and "Preferred time" in page


def test_an_owner_edits_custom_fields_and_only_the_edited_ones_are_queued(owner_client, org, synced):
    contact = contact_create(organization=org, first_name="Jane", email="jane@example.com",
                             custom_properties={"preferred_dentist": "Dr Who", "visits": 2})
    OutboxEntry.objects.all().delete()

    response = owner_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", _edit_form(
        contact, cf_visits="3", cf_last_visit="2026-11-30", cf_preferred_time="afternoon",
        cf_services=["Cleaning", "Braces"], cf_nicknames="Janie, JD"))

    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.custom_properties == {
        "preferred_dentist": "Dr Who", "visits": 3, "last_visit": "2026-11-30", "preferred_time": "Afternoon",
        "services": ["Cleaning", "Braces"], "nicknames": ["Janie", "JD"]}
    entry = OutboxEntry.objects.get()
    assert sorted(entry.changed_fields) == ["custom_properties.last_visit", "custom_properties.nicknames",
                                            "custom_properties.preferred_time", "custom_properties.services",
                                            "custom_properties.visits"]


def test_bad_custom_values_are_refused_in_place_with_the_input_kept(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane", custom_properties={"visits": 2})

    response = owner_client.post(f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", _edit_form(
        contact, cf_visits="lots", cf_last_visit="someday", cf_preferred_time="Evening",
        cf_services=["Cleaning"], cf_preferred_dentist="Dr No"))

    assert response.status_code == 400
    page = response.content.decode()
    assert "&#x27;lots&#x27; is not a number." in page
    assert "&#x27;someday&#x27; is not a date." in page
    assert "“Evening” is not among this field&#x27;s values: Morning, Afternoon." in page
    assert 'name="cf_visits" value="lots"' in page and 'name="cf_last_visit" value="someday"' in page
    assert 'value="Dr No"' in page and 'value="Cleaning" id="id_cf_services_0" checked' in page
    contact.refresh_from_db()
    assert contact.custom_properties == {"visits": 2}


def test_a_value_outside_the_allowed_ones_is_refused_naming_them(org):
    contact = contact_create(organization=org, first_name="Jane")

    with pytest.raises(ValidationError) as refused:
        contact_update(contact=contact, custom_properties={"services": ["Cleaning", "Massage"]})

    assert refused.value.message_dict == {"custom_properties.services": [
        "“Massage” is not among this field's values: Cleaning, Whitening, Braces."]}


def test_a_new_contact_takes_its_custom_fields(owner_client, org):
    response = owner_client.post(f"/orgs/{org.pk}/contacts/new/", {
        "first_name": "Ada", "cf_visits": "1.5", "cf_services": ["Whitening"], "cf_preferred_dentist": ""})

    assert response.status_code == 302
    assert Contact.objects.for_org(org).get().custom_properties == {"visits": 1.5, "services": ["Whitening"]}


def test_every_local_writer_is_checked_but_a_remote_value_is_never_refused(org):
    contact = contact_create(organization=org, first_name="Jane")

    with pytest.raises(ValidationError):  # an agent or admin writing through the services
        contact_update(contact=contact, custom_properties={"visits": "many"})
    with sync_origin(provider="ghl", account_id=ACCOUNT):  # GHL's own value, converted by its mapping already
        contact_update(contact=contact, custom_properties={"preferred_time": "Evening"})

    contact.refresh_from_db()
    assert contact.custom_properties == {"preferred_time": "Evening"}


def test_the_detail_page_names_custom_fields(owner_client, org):
    contact = contact_create(organization=org, first_name="Jane", custom_properties={
        "services": ["Cleaning", "Braces"], "visits": 0, "legacy_key": "kept"})

    page = owner_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").content.decode()

    assert "<dt>Services</dt><dd>Cleaning, Braces</dd>" in page
    assert "<dt>Visits</dt><dd>0</dd>" in page and "<dt>Last visit</dt><dd>—</dd>" in page
    assert "<dt>legacy_key</dt><dd>kept</dd>" in page


def test_sync_history_and_conflicts_name_fields_not_keys(owner_client, org, synced):
    from django.contrib.contenttypes.models import ContentType

    from crm.sync.models import SyncConflict

    contact = contact_create(organization=org, first_name="Jane", custom_properties={"visits": 2})
    OutboxEntry.objects.update(status="done")  # created in GHL: the next edit is an entry of its own
    contact_update(contact=contact, custom_properties={"visits": 3})
    SyncConflict.objects.create(organization=org, provider="ghl", account_id=ACCOUNT,
                                content_type=ContentType.objects.get_for_model(Contact), object_id=contact.pk,
                                field="custom_properties.preferred_time", local_value="Morning",
                                remote_value="Afternoon", applied_value="Afternoon", policy="remote_wins",
                                decision="remote")

    detail = owner_client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/").content.decode()
    inbox = owner_client.get(f"/orgs/{org.pk}/sync/inbox/").content.decode()

    assert "<td>Visits</td>" in detail and "<td>Preferred time</td>" in detail
    assert "custom_properties." not in detail
    assert "<td>Preferred time</td>" in inbox and "custom_properties." not in inbox


def test_admin_refuses_a_bad_custom_value_on_the_field_naming_the_key(admin_client, org):
    contact = contact_create(organization=org, first_name="Jane", custom_properties={"visits": 2})

    response = admin_client.post(f"/admin/crm/contact/{contact.pk}/change/", {
        "organization": org.pk, "first_name": "Jane", "full_name": "Jane", "additional_emails": "[]",
        "additional_phones": "[]", "tags": "[]", "custom_properties": '{"visits": "many"}',
        "crm-externalidentity-content_type-object_id-TOTAL_FORMS": "0",
        "crm-externalidentity-content_type-object_id-INITIAL_FORMS": "0"})

    assert response.status_code == 200
    assert "visits: &#x27;many&#x27; is not a number." in response.content.decode()
    contact.refresh_from_db()
    assert contact.custom_properties == {"visits": 2}
