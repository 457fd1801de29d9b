"""Locations, custom fields and users through the client against the sandbox (REFERENCE.md §g)."""
from ghl_sandbox import constants as c


def test_location_and_custom_fields(ghl):
    location = ghl.locations.get()
    contact_fields = ghl.locations.custom_fields(model="contact")
    every_field = ghl.locations.custom_fields()

    assert location["id"] == c.DEMO_LOCATION_ID and location["name"] == c.DEMO_LOCATION_NAME
    assert {f["fieldKey"] for f in contact_fields} == {"contact.preferred_dentist", "contact.insurance_provider"}
    assert len(every_field) == 3 and all(f["model"] in ("contact", "opportunity") for f in every_field)


def test_users_list_get_search_and_iter_search(ghl):
    listed = ghl.users.list()
    one = ghl.users.get(c.DEMO_USER_ID)
    page = ghl.users.search(company_id=c.DEMO_COMPANY_ID, limit=2)
    every = list(ghl.users.iter_search(company_id=c.DEMO_COMPANY_ID, page_size=2))

    assert c.DEMO_USER_ID in [u["id"] for u in listed] and len(listed) == 3
    assert one["id"] == c.DEMO_USER_ID
    assert len(page["users"]) == 2 and page["count"] == 3
    assert sorted(u["id"] for u in every) == sorted(u["id"] for u in listed)
