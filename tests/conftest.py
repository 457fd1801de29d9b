import pytest


@pytest.fixture
def org_factory(db):
    from tenancy.services import organization_create, user_create

    counter = {"n": 0}

    def make(name: str | None = None, owner=None, region: str = "US"):
        counter["n"] += 1
        n = counter["n"]
        owner = owner or user_create(username=f"owner{n}", password="pw-owner-123456")
        return organization_create(name=name or f"Org {n}", owner=owner, default_phone_region=region)

    return make
