"""Fixtures for the GHL push worker (every kind) and the contacts' outbound tests (`contacts_outbound/`, which
imports these): an organisation connected to the sandbox's demo location, whose pushes the test drives."""
import pytest

from crm.sync import outbox, targets
from ghl_integration.sync.targets import ghl_contact_sync_targets
from ghl_sandbox import constants as sbx
from tests.factories import UserFactory, sandbox_connect

LOCATION_ID = sbx.DEMO_LOCATION_ID


@pytest.fixture
def ghl(sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.GHL_AUTHORIZE_URL = f"{sandbox.base_url}/oauth/chooselocation"
    return sandbox


@pytest.fixture
def resolver():
    """The GHL sync target resolver (`apps.py` registers it; kept for runs where it is not)."""
    added = "ghl" not in targets._resolvers
    if added:
        targets.register_target_resolver("ghl", ghl_contact_sync_targets)
    yield
    if added:
        targets.unregister_target_resolver("ghl")


@pytest.fixture
def no_notifier():
    """Tests drive the push worker themselves, unless they ask for the notifier."""
    saved = outbox._push_notifiers.pop("ghl", None)
    yield
    outbox._push_notifiers.pop("ghl", None)  # a test may have wired it
    if saved is not None:
        outbox._push_notifiers["ghl"] = saved


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def connected(ghl, org_factory, owner, settings, resolver, no_notifier):
    org = org_factory("Demo Dental", owner=owner)
    connection = sandbox_connect(ghl, organization=org, user=owner, location_id=LOCATION_ID)
    ghl.control.clear_request_log()
    return connection


def contact_writes(ghl) -> list[dict]:
    """Writes to GHL's contact endpoints in the request log (reads and OAuth left out)."""
    return [r for r in ghl.control.request_log(path_prefix="/contacts") if r["method"] != "GET"]
