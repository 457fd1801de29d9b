import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from crm.emails import email_is_valid
from crm.services.contacts import contact_clean_fields, contact_create
from crm.sync.mapping import MappingValidationError, mapping_for
from crm.sync.models import DataType, Direction, FieldMapping

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db

# What a provider layer passes in: its standard fields, as data.
DEFAULTS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "tags": "tags",
    "dateOfBirth": "date_of_birth",
    "dnd": ("dnd_all", "boolean"),
}


def _mapping(org):
    return mapping_for(organization=org, provider=PROVIDER, account_id=ACCOUNT, defaults=DEFAULTS)


def _row(org, **kw):
    return FieldMapping.objects.create(organization=org, provider=PROVIDER, account_id=ACCOUNT, **kw)


def test_defaults_convert_standard_fields(org):
    local = _mapping(org).to_local({
        "firstName": " Ann ", "email": "ANN@Example.com", "phone": "(503) 555-0142", "tags": ["a", "b"],
        "dateOfBirth": "1990-04-01T00:00:00.000Z", "dnd": "true", "unmapped": 1,
    })
    assert local == {
        "first_name": "Ann", "email": "ann@example.com", "phone": "+15035550142", "tags": ["a", "b"],
        "date_of_birth": dt.date(1990, 4, 1), "dnd_all": True,
    }


def test_an_address_mapped_then_cleaned_is_validated_once_and_a_bad_one_is_still_refused_twice(org):
    email_is_valid.cache_clear()
    mapping = _mapping(org)
    local = mapping.to_local({"email": " Ann@Example.com "})
    assert contact_clean_fields(organization=org, data=local) == {"email": "ann@example.com"}
    assert email_is_valid.cache_info()[:2] == (1, 1)  # (hits, misses): the cleaning found the mapping's verdict

    assert mapping.to_local({"email": "not-an-email"}) == {} and "email" in mapping.errors
    with pytest.raises(ValidationError) as exc:
        contact_clean_fields(organization=org, data={"email": "not-an-email"})
    assert "not a valid email address" in str(exc.value.message_dict["email"])
    assert email_is_valid.cache_info()[:2] == (2, 2)


def test_custom_fields_map_to_custom_properties_keys(org):
    _row(org, remote_key="cf_plan_id", local_field="custom_properties.plan")
    _row(org, remote_key="cf_seats", local_field="custom_properties.seats", data_type=DataType.NUMBER)
    _row(org, remote_key="cf_renewal", local_field="custom_properties.renewal", data_type=DataType.DATE)
    mapping = _mapping(org)
    assert mapping.to_local({"cf_plan_id": "gold", "cf_seats": "12", "cf_renewal": "2027/01/31"}) == {
        "custom_properties.plan": "gold", "custom_properties.seats": 12,
        "custom_properties.renewal": dt.date(2027, 1, 31),
    }
    contact = contact_create(organization=org, first_name="Ann", custom_properties={"plan": "gold", "seats": 3})
    payload = mapping.to_remote(contact, fields={"custom_properties"})
    assert payload == {"cf_plan_id": "gold", "cf_seats": 3, "cf_renewal": None}
    standard, custom = mapping.split_standard(mapping.to_remote(contact, fields={"first_name", "custom_properties"}))
    assert standard == {"firstName": "Ann"} and set(custom) == {"cf_plan_id", "cf_seats", "cf_renewal"}


def test_type_errors_are_reported_not_silently_dropped(org):
    _row(org, remote_key="cf_seats", local_field="custom_properties.seats", data_type=DataType.NUMBER)
    _row(org, remote_key="cf_ok", local_field="custom_properties.ok", data_type=DataType.BOOLEAN)
    mapping = _mapping(org)
    local = mapping.to_local({"cf_seats": "twelve", "cf_ok": "maybe", "email": "not-an-email", "firstName": "A"})
    assert local == {"first_name": "A"}
    assert set(mapping.errors) == {"cf_seats", "cf_ok", "email"}
    with pytest.raises(MappingValidationError) as exc:
        mapping.to_local({"cf_seats": "twelve"}, strict=True)
    assert "cf_seats" in exc.value.errors
    assert mapping.record_errors() == 1
    row = FieldMapping.objects.get(remote_key="cf_seats")
    assert "not a number" in row.last_error and row.last_error_at


def test_a_rejected_default_field_gets_a_row_with_the_error(org):
    row = _mapping(org).record_error("phone", "GHL: phone matches another contact")
    assert row.local_field == "phone" and row.data_type == DataType.PHONE and row.last_error.startswith("GHL")


def test_rows_override_and_disable_defaults(org):
    _row(org, remote_key="lastName", local_field="last_name", is_active=False)
    _row(org, remote_key="firstName", local_field="first_name", direction=Direction.INBOUND)
    _row(org, remote_key="cf_note", local_field="custom_properties.note", direction=Direction.OUTBOUND)
    mapping = _mapping(org)
    assert mapping.to_local({"lastName": "Lee", "firstName": "Ann", "cf_note": "x"}) == {"first_name": "Ann"}
    contact = contact_create(organization=org, first_name="Ann", last_name="Lee", custom_properties={"note": "hi"})
    payload = mapping.to_remote(contact)
    assert "firstName" not in payload and "lastName" not in payload and payload["cf_note"] == "hi"
    assert payload["dateOfBirth"] is None and payload["dnd"] is False


def test_mapping_row_validates_its_local_field(org):
    with pytest.raises(ValidationError):
        FieldMapping(organization=org, provider=PROVIDER, account_id=ACCOUNT, remote_key="x",
                     local_field="no_such_field").full_clean()
    FieldMapping(organization=org, provider=PROVIDER, account_id=ACCOUNT, remote_key="x",
                 local_field="custom_properties.x").full_clean()


@pytest.mark.django_db
def test_staff_cannot_change_a_mapping_behind_the_settings_pages_rules(admin_client, org):
    row = FieldMapping.objects.create(organization=org, provider="ghl", account_id="loc", remote_key="dnd",
                                      local_field="dnd_all", data_type="boolean")

    response = admin_client.post(f"/admin/crm/fieldmapping/{row.pk}/change/", {"local_field": "is_archived"})

    assert response.status_code == 403
    row.refresh_from_db()
    assert row.local_field == "dnd_all"


@pytest.mark.parametrize(("remote", "expected"), [
    ("2026-12-05T10:30:00+01:00", dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)),
    ("2026-12-05T09:30:00.000Z", dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)),
    ("2026-12-05T09:30:00", dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)),  # no zone: UTC
    (1796463000000, dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)),  # epoch milliseconds
    (1796463000, dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)),  # epoch seconds
    ("", None),
])
def test_a_datetime_is_read_as_an_aware_utc_moment(remote, expected):
    from crm.sync.mapping import to_local_value, to_remote_value

    assert to_local_value(remote, DataType.DATETIME) == expected
    if expected is not None:
        assert to_remote_value(expected, DataType.DATETIME) == "2026-12-05T09:30:00Z"


@pytest.mark.parametrize("remote", ["next tuesday", True, {"at": 1}])
def test_a_value_that_is_no_datetime_is_refused(org, remote):
    _row(org, remote_key="seenAt", local_field="custom_properties.seen_at", data_type=DataType.DATETIME)
    mapping = _mapping(org)
    assert mapping.to_local({"seenAt": remote}) == {}
    assert "seenAt" in mapping.errors


def test_a_datetime_and_a_reference_are_inferred_from_the_model(org):
    from crm.models import Opportunity
    from crm.sync.mapping import infer_data_type

    assert infer_data_type(Opportunity, "status_changed_at") == DataType.DATETIME
    assert infer_data_type(Opportunity, "contact") == DataType.REFERENCE
