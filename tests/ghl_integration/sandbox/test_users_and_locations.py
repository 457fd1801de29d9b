from concurrent.futures import ThreadPoolExecutor

from ghl_sandbox import constants as c

LOC = c.DEMO_LOCATION_ID


def test_location_and_custom_fields(api):
    location = api.get(f"/locations/{LOC}").json()["location"]
    assert location["name"] == c.DEMO_LOCATION_NAME and location["companyId"] == c.DEMO_COMPANY_ID
    assert location["settings"]["allowDuplicateContact"] is False
    opp_fields = api.get(f"/locations/{LOC}/customFields", params={"model": "opportunity"}).json()["customFields"]
    assert [f["fieldKey"] for f in opp_fields] == ["opportunity.treatment_interest"]


def test_users_search_and_get_are_scoped(sandbox, api):
    users = api.get("/users/search", params={"companyId": c.DEMO_COMPANY_ID, "locationId": LOC}).json()
    assert users["count"] == 3 and c.DEMO_USER_ID in [u["id"] for u in users["users"]]
    assert api.get(f"/users/{c.DEMO_USER_ID}").json()["id"] == c.DEMO_USER_ID
    other = sandbox.control.seed(name="Elsewhere", users=1, contacts=0)
    assert api.get(f"/users/{other['userIds'][0]}").status_code == 404
    assert api.get("/users/search", params={"companyId": other["companyId"]}).status_code == 403


def test_concurrent_requests_never_exceed_the_window(sandbox, api):
    sandbox.control.rate_limits(max=20, interval_ms=10000)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: api.get(f"/locations/{LOC}").status_code, range(40)))
    assert statuses.count(200) == 20 and statuses.count(429) == 20
