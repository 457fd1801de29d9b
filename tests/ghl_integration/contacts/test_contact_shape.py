import json

from ghl_integration.contacts.shape import flatten_ghl_contact, ghl_contact_payload
from tests.fixtures.ghl import WEBHOOKS_DIR

WEBHOOKS = WEBHOOKS_DIR


def _example(name):
    return json.loads((WEBHOOKS / f"{name}.json").read_text())


def test_a_contact_webhook_flattens_to_standard_and_custom_keys():
    flat = flatten_ghl_contact(_example("ContactCreate"))
    assert flat["firstName"] == "Maria" and flat["email"] == "maria.lopez@example.com"
    assert flat["dateOfBirth"] == "1988-06-02"
    assert flat["tags"] == ["new-lead", "spring-promo"]
    assert flat["customFields.Cf3XcV7bN1mQ5wE9rT2y"] == "Invisalign consult"
    assert "dnd.SMS" not in flat  # ContactCreate carries no dndSettings: DND per channel is unknown, not off


def test_dnd_settings_become_per_channel_flags():
    flat = flatten_ghl_contact(_example("ContactDndUpdate"))
    assert flat["dnd"] is True and flat["dnd.SMS"] is True and flat["dnd.Email"] is False


def test_a_channel_missing_from_dnd_settings_is_off_but_no_settings_say_nothing():
    assert flatten_ghl_contact({"id": "c1", "dndSettings": {"SMS": {"status": "permanent"}}}) == {
        "dnd.SMS": True, "dnd.Email": False, "dnd.WhatsApp": False, "dnd.Call": False, "dnd.GMB": False,
        "dnd.FB": False}
    assert flatten_ghl_contact({"id": "c1", "dndSettings": {}})["dnd.SMS"] is False  # a contact never opted out
    assert not any(k.startswith("dnd.") for k in flatten_ghl_contact({"id": "c1", "dnd": False}))


def test_only_present_keys_are_flattened():
    assert flatten_ghl_contact({"id": "c1", "firstName": "Ann"}) == {"firstName": "Ann"}


def test_writes_use_field_value_and_updates_never_send_tags():
    flat = {"firstName": "Ann", "tags": ["vip"], "customFields.Cf3XcV7bN1mQ5wE9rT2y": "Braces",
            "customFields.contact.favourite_colour": "blue", "dnd.SMS": True, "companyName": "Acme"}
    create = ghl_contact_payload(flat, for_update=False)
    assert create["tags"] == ["vip"] and create["companyName"] == "Acme"
    assert create["customFields"] == [
        {"id": "Cf3XcV7bN1mQ5wE9rT2y", "field_value": "Braces"},
        {"key": "contact.favourite_colour", "field_value": "blue"},
    ]
    assert create["dndSettings"] == {"SMS": {"status": "active"}}
    update = ghl_contact_payload(flat, for_update=True)
    assert "tags" not in update and "companyName" not in update
