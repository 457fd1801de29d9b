import pytest

from crm.sync.targets import register_target_resolver, unregister_target_resolver

PROVIDER = "ghl"
ACCOUNT = "loc1"


@pytest.fixture
def targets():
    """Register a resolver whose answer the test can change: ``targets["list"] = [...]``."""
    state = {"list": [(PROVIDER, ACCOUNT)]}
    register_target_resolver("test", lambda organization_id: state["list"])
    yield state
    unregister_target_resolver("test")


@pytest.fixture
def org(org_factory):
    return org_factory()
