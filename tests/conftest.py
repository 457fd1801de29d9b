import pytest


@pytest.fixture
def org_factory(db):
    """``org_factory(name=None, owner=None, region="US")``: an organisation and its owner (`OrganizationFactory`)."""
    from tests.factories import OrganizationFactory

    def make(name: str | None = None, owner=None, region: str = "US"):
        fields = {"default_phone_region": region}
        if name is not None:
            fields["name"] = name
        if owner is not None:
            fields["owner"] = owner
        return OrganizationFactory(**fields)

    return make
