"""Contacts through the client against the sandbox (REFERENCE.md §c)."""
import pytest

from ghl_integration.client import GhlNotFound, GhlValidationError


def test_get_and_search_with_filters(ghl, demo):
    some = demo["contacts"][0]

    got = ghl.contacts.get(some["id"])
    page = ghl.contacts.search(filters=[{"field": "email", "operator": "eq", "value": some["email"]}])
    by_query = ghl.contacts.search(query=some["lastName"], page=1, page_limit=5)

    assert got["id"] == some["id"] and got["email"] == some["email"]
    assert [c["id"] for c in page["contacts"]] == [some["id"]] and page["total"] == 1
    assert by_query["contacts"] and all(some["lastName"].lower() in c["name"].lower() for c in by_query["contacts"])


def test_iter_search_follows_search_after_across_pages(ghl, demo, recorder):
    every = list(ghl.contacts.iter_search(page_size=7))

    searches = [r for r in recorder.responses if r.request.path_url == "/contacts/search"]
    assert sorted(c["id"] for c in every) == sorted(c["id"] for c in demo["contacts"])
    assert len(every) == len({c["id"] for c in every}) == 50
    assert len(searches) == 8  # 7 full pages of 7, then a short one
    assert all(b'"searchAfter"' in r.request.body for r in searches[1:])


def test_iter_search_with_a_filter_and_sort(ghl, demo):
    tagged = [c for c in demo["contacts"] if "vip" in c["tags"]]

    found = list(ghl.contacts.iter_search(filters=[{"field": "tags", "operator": "eq", "value": "vip"}],
                                          sort=[{"field": "firstNameLowerCase", "direction": "asc"}], page_size=2))

    assert sorted(c["id"] for c in found) == sorted(c["id"] for c in tagged)
    names = [c["firstNameLowerCase"] for c in found]
    assert names == sorted(names)


def test_create_update_delete_then_not_found(ghl):
    created = ghl.contacts.create({"firstName": "Ada", "lastName": "Byron", "email": "ada@example.com",
                                   "phone": "+15035550123", "tags": ["new-lead"]})
    updated = ghl.contacts.update(created["id"], {"city": "Salem", "locationId": "ignored-by-the-client"})
    assert ghl.contacts.delete(created["id"]) is True

    assert created["name"] == "Ada Byron" and created["tags"] == ["new-lead"]
    assert updated["city"] == "Salem" and updated["email"] == "ada@example.com"
    with pytest.raises(GhlNotFound) as exc:
        ghl.contacts.get(created["id"])
    assert exc.value.status == 404 and exc.value.request_id


def test_duplicate_create_is_a_validation_error_naming_the_existing_contact(ghl):
    first = ghl.contacts.create({"firstName": "Ann", "email": "ann@example.com"})

    with pytest.raises(GhlValidationError) as exc:
        ghl.contacts.create({"firstName": "Other", "email": "ANN@example.com"})

    assert exc.value.status == 400
    assert exc.value.duplicate_contact_id == first["id"]
    assert exc.value.meta["matchingField"] == "email"


def test_upsert_creates_then_updates_the_same_contact(ghl):
    created = ghl.contacts.upsert({"firstName": "Uma", "email": "uma@example.com"})
    again = ghl.contacts.upsert({"email": "uma@example.com", "city": "Bend"})

    assert created["new"] is True and again["new"] is False
    assert again["contact"]["id"] == created["contact"]["id"] and again["contact"]["city"] == "Bend"


def test_add_and_remove_tags_and_update_without_tags_keeps_them(ghl):
    contact = ghl.contacts.create({"firstName": "Tia", "tags": ["a"]})

    after_add = ghl.contacts.add_tags(contact["id"], ["b", "c"])
    after_remove = ghl.contacts.remove_tags(contact["id"], ["a"])
    updated = ghl.contacts.update(contact["id"], {"city": "Eugene"})
    replaced = ghl.contacts.update(contact["id"], {"tags": ["z"]})

    assert after_add == ["a", "b", "c"]
    assert after_remove == ["b", "c"]
    assert updated["tags"] == ["b", "c"]  # an update that does not mention tags leaves them alone
    assert replaced["tags"] == ["z"]  # one that does replaces the whole list


def test_custom_fields_written_by_id_or_key_read_back_as_id_value(ghl):
    fields = {f["fieldKey"]: f["id"] for f in ghl.locations.custom_fields(model="contact")}
    dentist_id, insurer_id = fields["contact.preferred_dentist"], fields["contact.insurance_provider"]

    created = ghl.contacts.create({"firstName": "Cy", "customFields": [
        {"id": dentist_id, "field_value": "Dr. Who"},
        {"key": "insurance_provider", "field_value": "Acme"},
    ]})
    read = ghl.contacts.get(created["id"])

    assert sorted(read["customFields"], key=lambda f: f["id"]) == sorted(
        [{"id": dentist_id, "value": "Dr. Who"}, {"id": insurer_id, "value": "Acme"}], key=lambda f: f["id"])
    assert all(set(f) == {"id", "value"} for f in read["customFields"])


def test_find_duplicate(ghl, demo):
    some = demo["contacts"][3]

    assert ghl.contacts.find_duplicate(email=some["email"])["id"] == some["id"]
    assert ghl.contacts.find_duplicate(email="nobody@example.com") is None
