"""Fixtures for the agent tools: an organization with an agent and a key, connected to the sandbox's demo
location, whose pushes run inline right after each commit (standing in for the Celery worker)."""
import json

import pytest

from agents.services import agent_create, api_key_create
from crm.models import Contact
from crm.services.contacts import contact_create
from crm.services.external_ids import external_id_link
from crm.sync import outbox, targets
from ghl_integration.connections import connection_connect_from_code
from ghl_integration.sync.push import outbox_push_pending
from ghl_integration.sync.targets import ghl_contact_sync_targets
from ghl_sandbox import constants as sbx
from tests.ghl_integration.conftest import ghl_sandbox, sandbox  # noqa: F401  (the sandbox fixtures)

LOCATION_ID = sbx.DEMO_LOCATION_ID


@pytest.fixture(autouse=True)
def agent_rate_limits_per_test(monkeypatch):
    """The agent rate limits' windows start empty in each test: every test calls from 127.0.0.1, and earlier
    tests' calls with invalid keys would otherwise count against this one's address."""
    import uuid

    from agents.tools import ratelimit

    monkeypatch.setattr(ratelimit, "KEY_PREFIX", f"agents:rl:t:{uuid.uuid4().hex[:12]}")


@pytest.fixture
def ghl(sandbox, settings):  # noqa: F811
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.GHL_AUTHORIZE_URL = f"{sandbox.base_url}/oauth/chooselocation"
    settings.AGENT_WRITE_CONFIRM_SECONDS = 5
    return sandbox


@pytest.fixture
def push_inline():
    """Push a location's outbox right after the commit, in-process (what the worker does in production)."""
    added = "ghl" not in targets._resolvers
    if added:
        targets.register_target_resolver("ghl", ghl_contact_sync_targets)
    saved = outbox._push_notifiers.pop("ghl", None)
    state = {"connection_id": None, "enabled": True}

    def notify(account_id: str) -> None:
        if state["enabled"] and state["connection_id"]:
            outbox_push_pending(connection_id=state["connection_id"], budget_seconds=5)

    outbox.register_push_notifier("ghl", notify)
    yield state
    outbox._push_notifiers.pop("ghl", None)
    if saved is not None:
        outbox._push_notifiers["ghl"] = saved
    if added:
        targets.unregister_target_resolver("ghl")


@pytest.fixture
def org(org_factory):
    return org_factory("Demo Dental")


@pytest.fixture
def connected(ghl, org, settings, push_inline):
    owner = org.memberships.first().user
    code = ghl.control.issue_code(locationId=LOCATION_ID, redirectUri=settings.GHL_REDIRECT_URI)["code"]
    connection = connection_connect_from_code(organization=org, user=owner, code=code).connection
    push_inline["connection_id"] = connection.pk
    ghl.control.clear_request_log()
    return connection


@pytest.fixture
def agent(org):
    return agent_create(organization=org, name="Front desk")


@pytest.fixture
def key(agent):
    return api_key_create(agent=agent)[1]


@pytest.fixture
def call(client):
    """POST a tool over REST; returns (status, envelope)."""

    def run(key: str | None, tool: str, body=None, **headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if key:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        response = client.post(f"/api/agent/tools/{tool}/", data=json.dumps(body if body is not None else {}),
                               content_type="application/json", **extra)
        return response.status_code, response.json()

    return run


@pytest.fixture
def people(org):
    """A few local contacts (no connection: nothing is pushed)."""
    data = [
        dict(first_name="Jane", last_name="Doe", email="jane.doe@example.com", phone="+15035550101", city="Portland"),
        dict(first_name="Jane", last_name="Smith", email="jane.smith@example.com", phone="+15035550102",
             city="Salem"),
        dict(first_name="José", last_name="García", email="jose@example.com", phone="+15035550103"),
        dict(first_name="Robert", last_name="Fischer", email="bob@example.com", tags=["vip"]),
        dict(first_name="Zoë", last_name="Ångström", email="zoe@example.com"),
    ]
    return {f"{d['first_name']} {d['last_name']}": contact_create(organization=org, **d) for d in data}


def person(ghl, org, connected, first, last, phone, email=None):
    """A contact in the sandbox's demo location and its local mirror, linked: (local contact, GHL contact id)."""
    email = email or f"{first}.{last}@example.com".lower()
    remote = ghl.control.change_contact("create", locationId=LOCATION_ID, firstName=first, lastName=last,
                                        phone=phone, email=email)["contact"]
    local = Contact.objects.create(organization=org, first_name=first, last_name=last, full_name=f"{first} {last}",
                                   phone=phone, email=email)
    external_id_link(obj=local, provider="ghl", account_id=LOCATION_ID, external_id=remote["id"],
                     connection_id=connected.pk)
    return local, remote["id"]


@pytest.fixture
def maria(ghl, org, connected):
    """Maria Lopez (maria@example.com, +15035550177), in GHL and mirrored: (local contact, GHL contact id)."""
    linked = person(ghl, org, connected, "Maria", "Lopez", "+15035550177", email="maria@example.com")
    ghl.control.clear_request_log()
    return linked


def ghl_writes(ghl) -> list[dict]:
    return [r for r in ghl.control.request_log(path_prefix="/contacts") if r["method"] != "GET"]
