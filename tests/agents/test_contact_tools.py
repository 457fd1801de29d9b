"""The contact tools over REST against the sandbox: happy paths, error codes, dry runs and idempotency."""
import re

import pytest

from agents.models import ToolCall
from crm.models import Contact
from crm.services.contacts import contact_create

from .conftest import LOCATION_ID, ghl_writes

pytestmark = pytest.mark.django_db(transaction=True)


def ghl_contacts(ghl, email: str) -> list[dict]:
    return [c for c in ghl.control.objects("contact", location_id=LOCATION_ID) if c.get("email") == email]


def test_create_contact_is_confirmed_by_ghl_with_its_id(connected, ghl, key, call):
    status, body = call(key, "create_contact", {"name": "Ada Lovelace", "email": "ada@example.com",
                                                "phone": "(503) 555-0190", "tags": ["vip"]})
    assert status == 200 and body["ok"], body
    result = body["result"]
    assert result["status"] == "confirmed" and result["existing"] is False
    ghl_id = result["contact"]["ghl_contact_id"]
    [remote] = ghl_contacts(ghl, "ada@example.com")
    assert remote["id"] == ghl_id and remote["firstName"] == "Ada" and remote["phone"] == "+15035550190"
    local = Contact.objects.for_org(connected.organization).get(pk=result["contact"]["contact_id"])
    assert (local.first_name, local.last_name, local.tags) == ("Ada", "Lovelace", ["vip"])
    audit = ToolCall.objects.get(tool="create_contact")
    assert audit.ok and audit.outcome == "confirmed" and audit.surface == "rest" and ghl_id in audit.ghl_ids
    assert audit.key_prefix == key.split("_")[1] and audit.input["email"] == "ada@example.com"


def test_create_contact_returns_an_existing_person_instead_of_a_duplicate(connected, ghl, key, call):
    call(key, "create_contact", {"name": "Ada Lovelace", "email": "ada@example.com"})
    ghl.control.clear_request_log()
    status, body = call(key, "create_contact", {"name": "A. Lovelace", "email": "ADA@example.com"})
    assert status == 200 and body["result"]["status"] == "existing" and body["result"]["existing"] is True
    assert Contact.objects.for_org(connected.organization).filter(email="ada@example.com").count() == 1
    assert ghl_writes(ghl) == []


def test_idempotent_retry_of_create_contact_makes_one_contact_in_ghl(connected, ghl, key, call):
    body = {"name": "Grace Hopper", "email": "grace@example.com", "idempotency_key": "create-grace-1"}
    first = call(key, "create_contact", body)
    second = call(key, "create_contact", body)
    assert first == second and first[1]["result"]["status"] == "confirmed"
    assert len(ghl_contacts(ghl, "grace@example.com")) == 1
    assert len([w for w in ghl_writes(ghl) if w["method"] == "POST"]) == 1
    assert list(ToolCall.objects.filter(tool="create_contact").values_list("outcome", flat=True)
                .order_by("id")) == ["confirmed", "replayed"]


def test_the_idempotency_key_header_works_like_the_field(connected, ghl, key, call):
    body = {"name": "Grace Hopper", "email": "grace@example.com"}
    first = call(key, "create_contact", body, **{"Idempotency-Key": "hdr-1"})
    second = call(key, "create_contact", body, **{"Idempotency-Key": "hdr-1"})
    assert first == second and len(ghl_contacts(ghl, "grace@example.com")) == 1


def test_the_same_key_with_another_input_is_a_conflict(connected, ghl, key, call):
    call(key, "create_contact", {"name": "Grace Hopper", "email": "grace@example.com", "idempotency_key": "k"})
    status, body = call(key, "create_contact", {"name": "Alan Turing", "email": "alan@example.com",
                                                "idempotency_key": "k"})
    assert status == 409 and body["error"]["code"] == "conflict" and body["error"]["field"] == "idempotency_key"
    assert ghl_contacts(ghl, "alan@example.com") == []


def test_a_dry_run_says_what_would_change_and_sends_nothing(connected, ghl, key, call):
    status, body = call(key, "create_contact", {"name": "Dry Run", "email": "dry@example.com", "dry_run": True})
    assert status == 200 and body["result"]["status"] == "dry_run"
    assert body["result"]["changes"]["email"] == {"from": None, "to": "dry@example.com"}
    assert not Contact.objects.for_org(connected.organization).filter(email="dry@example.com").exists()
    assert ghl.control.request_log() == []
    assert ToolCall.objects.get(tool="create_contact").dry_run is True


def test_update_contact_sends_only_changed_fields(connected, ghl, key, call):
    created = call(key, "create_contact", {"name": "Jane Doe", "email": "jane@example.com"})[1]["result"]
    ghl.control.clear_request_log()
    status, body = call(key, "update_contact", {"contact": "jane doe",
                                                "fields": {"city": "Portland", "email": "jane@example.com"}})
    assert status == 200 and body["result"]["status"] == "confirmed", body
    assert body["result"]["changes"] == {"city": {"from": "", "to": "Portland"}}
    assert body["result"]["resolved"]["matched_by"] == "name"
    [put] = [w for w in ghl_writes(ghl) if w["method"] == "PUT"]
    assert put["path"].endswith(created["contact"]["ghl_contact_id"])
    remote = ghl.control.objects("contact", created["contact"]["ghl_contact_id"])
    assert remote["city"] == "Portland"


def test_update_contact_with_nothing_new_is_unchanged(connected, ghl, key, call):
    call(key, "create_contact", {"name": "Jane Doe", "email": "jane@example.com"})
    ghl.control.clear_request_log()
    status, body = call(key, "update_contact", {"contact": "jane@example.com", "fields": {"first_name": "Jane"}})
    assert body["result"]["status"] == "unchanged" and ghl_writes(ghl) == []


def test_update_contact_dry_run_changes_nothing(connected, ghl, key, call):
    call(key, "create_contact", {"name": "Jane Doe", "email": "jane@example.com"})
    ghl.control.clear_request_log()
    status, body = call(key, "update_contact", {"contact": "Jane Doe", "fields": {"city": "Bend"}, "dry_run": True})
    assert body["result"]["status"] == "dry_run" and body["result"]["changes"] == {"city": {"from": "", "to": "Bend"}}
    assert Contact.objects.for_org(connected.organization).get(email="jane@example.com").city == ""
    assert ghl.control.request_log() == []


def test_add_and_remove_tags_go_through_ghls_tag_endpoints(connected, ghl, key, call):
    ghl_id = call(key, "create_contact", {"name": "Tag Me", "email": "tag@example.com"})[1]["result"]["contact"][
        "ghl_contact_id"]
    ghl.control.clear_request_log()
    status, body = call(key, "add_tags", {"contact": "tag@example.com", "tags": ["vip", "newsletter"]})
    assert status == 200 and body["result"]["status"] == "confirmed", body
    assert [w["method"] for w in ghl_writes(ghl)] == ["POST"]
    assert ghl_writes(ghl)[0]["path"].endswith(f"/contacts/{ghl_id}/tags")
    assert set(ghl.control.objects("contact", ghl_id)["tags"]) == {"vip", "newsletter"}
    ghl.control.clear_request_log()
    status, body = call(key, "remove_tags", {"contact": "Tag Me", "tags": ["VIP"]})
    assert body["result"]["status"] == "confirmed" and body["result"]["contact"]["tags"] == ["newsletter"]
    assert [w["method"] for w in ghl_writes(ghl)] == ["DELETE"]
    assert ghl.control.objects("contact", ghl_id)["tags"] == ["newsletter"]


def test_a_write_answers_queued_when_ghl_cannot_be_reached_in_time(connected, ghl, key, call, settings):
    settings.AGENT_WRITE_CONFIRM_SECONDS = 0.3
    ghl.control.faults(api={"http_5xx": 1.0, "status_5xx": [503]})
    status, body = call(key, "create_contact", {"name": "Later Person", "email": "later@example.com"})
    assert status == 200 and body["result"]["status"] == "queued", body
    assert body["result"]["contact"]["ghl_contact_id"] is None
    assert Contact.objects.for_org(connected.organization).filter(email="later@example.com").exists()


def test_writes_need_a_connection(org, key, call, people):
    status, body = call(key, "add_tags", {"contact": "Jane Doe", "tags": ["x"]})
    assert status == 409 and body["error"]["code"] == "not_connected"


def test_find_contact_and_context(org, key, call, people):
    status, body = call(key, "find_contact", {"query": "jane", "limit": 5})
    assert status == 200 and body["result"]["count"] == 2
    match = body["result"]["matches"][0]
    assert set(match) >= {"contact_id", "ghl_contact_id", "name", "email", "phone", "tags", "score", "synced_at"}
    status, body = call(key, "get_contact_context", {"contact": "Bob Fischer"})
    assert status == 200, body
    result = body["result"]
    assert result["contact"]["name"] == "Robert Fischer" and result["contact"]["tags"] == ["vip"]
    assert result["contact"]["dnd"]["all"] is False and "sms" in result["contact"]["dnd"]
    assert result["resolved"]["matched_by"] == "name"
    assert result["opportunities"] == [] and result["upcoming_appointments"] == [] and result["last_messages"] == []


@pytest.mark.parametrize("tool, body, code, field, status", [
    ("get_contact_context", {"contact": "Nobody Atall"}, "not_found", "contact", 404),
    ("get_contact_context", {"contact": "Jane"}, "ambiguous", "contact", 409),
    ("get_contact_context", {}, "invalid", "contact", 400),
    ("find_contact", {"query": "x", "limit": 100}, "invalid", "limit", 400),
    ("find_contact", {"query": "x", "colour": "red"}, "invalid", "colour", 400),
    ("update_contact", {"contact": "Jane Doe", "fields": {"nickname": "JD"}}, "invalid", "fields.nickname", 400),
    ("no_such_tool", {}, "not_found", "tool", 404),
])
def test_error_codes(org, key, call, people, tool, body, code, field, status):
    got_status, envelope = call(key, tool, body)
    assert got_status == status and envelope["ok"] is False
    assert envelope["error"]["code"] == code and envelope["error"]["field"] == field
    assert envelope["error"]["message"] and "hint" in envelope["error"]
    assert ToolCall.objects.get(tool=tool).error_code == code


def test_invalid_values_name_the_field_and_the_fix(connected, key, call, people):
    status, body = call(key, "create_contact", {"name": "Bad Mail", "email": "not-an-email"})
    assert status == 400 and body["error"]["code"] == "invalid" and body["error"]["field"] == "email"
    status, body = call(key, "update_contact", {"contact": "Jane Doe", "fields": {"phone": "12"}})
    assert status == 400 and body["error"]["field"] == "fields.phone"
    status, body = call(key, "update_contact", {"contact": "Jane Doe", "fields": {"date_of_birth": "30/04/1990"}})
    assert status == 400 and body["error"]["field"] == "fields.date_of_birth" and "YYYY-MM-DD" in body["error"]["hint"]


def test_ambiguous_lists_up_to_five_candidates(org, key, call):
    for i in range(7):
        contact_create(organization=org, first_name="Sam", last_name=f"Lee{i}", email=f"sam{i}@example.com")
    status, body = call(key, "get_contact_context", {"contact": "Sam"})
    assert status == 409 and len(body["error"]["candidates"]) == 5


def test_create_contact_returns_a_person_ghl_has_but_the_mirror_has_not_seen(connected, ghl, key, call):
    # Made in GHL without a webhook reaching us (as if it was dropped): the mirror does not know her.
    ghl.control.webhooks(urls=[])
    remote = ghl.control.change_contact("create", locationId=LOCATION_ID, firstName="Mary", lastName="Jackson",
                                        email="mary@example.com", phone="+15035550177")
    remote_id = remote.get("id") or remote["contact"]["id"]
    assert not Contact.objects.for_org(connected.organization).filter(email="mary@example.com").exists()
    ghl.control.clear_request_log()
    status, body = call(key, "create_contact", {"name": "Mary Jackson", "email": "mary@example.com"})
    assert status == 200 and body["ok"], body
    result = body["result"]
    assert result["status"] == "existing" and result["found_in"] == "ghl" and result["matched_by"] == "email"
    assert result["contact"]["ghl_contact_id"] == remote_id and result["contact"]["phone"] == "+15035550177"
    assert len(ghl_contacts(ghl, "mary@example.com")) == 1 and ghl_writes(ghl) == []
    [mirrored] = Contact.objects.for_org(connected.organization).filter(email="mary@example.com")
    assert mirrored.pk == result["contact"]["contact_id"] and mirrored.last_name == "Jackson"
    audit = ToolCall.objects.get(tool="create_contact")
    assert audit.outcome == "existing" and audit.ghl_ids == [remote_id] and audit.contact_id == mirrored.pk
    # GHL's traceId of the duplicate lookup (the sandbox answers with a UUID) is kept apart from the record ids.
    assert audit.ghl_request_ids and all(re.fullmatch(r"[0-9a-f-]{36}", ref) for ref in audit.ghl_request_ids)


def test_a_dry_run_create_asks_ghl_nothing(connected, ghl, key, call):
    status, body = call(key, "create_contact", {"name": "Dry Person", "email": "dry@example.com", "dry_run": True})
    assert status == 200 and body["result"]["status"] == "dry_run"
    assert ghl.control.request_log() == []
    assert not Contact.objects.for_org(connected.organization).filter(email="dry@example.com").exists()


def test_a_custom_field_value_of_the_wrong_type_names_the_field(org, key, call, people):
    from crm.sync.models import FieldMapping

    FieldMapping.objects.create(organization=org, provider="ghl", account_id=LOCATION_ID, object_type="contact",
                                remote_key="customFields.visits", remote_label="Visits",
                                local_field="custom_properties.visits", data_type="number")

    status, body = call(key, "update_contact", {"contact": "Jane Doe", "fields": {"custom_fields": {"visits": "many"}}})

    assert status == 400 and body["error"]["code"] == "invalid"
    assert body["error"]["field"] == "fields.custom_fields.visits" and "is not a number" in body["error"]["message"]
    assert people["Jane Doe"].custom_properties == {}
