"""Fixtures for the messaging tests: a connected demo location, GHL's webhooks recorded and fed to the inbox,
business events collected, and a contact known on both sides."""
import pytest

from crm import events
from crm.models import Contact
from crm.services.external_ids import external_id_link
from tests.ghl_integration.contacts.conftest import LOCATION, connection, deliver, ghl, org, receiver  # noqa: F401
from tests.ghl_integration.webhooks.conftest import compact, fresh, sign_ed25519


@pytest.fixture
def heard():
    """Every business event emitted during the test: (event, contact_id, data, acting_agent_id)."""
    seen = []

    def listen(sender, event, organization_id, contact_id, data, acting_agent_id, **kwargs):
        seen.append((event, contact_id, data, acting_agent_id))

    events.business_event.connect(listen, weak=False)
    yield seen
    events.business_event.disconnect(listen)


@pytest.fixture
def ana(ghl, org, connection):  # noqa: F811
    """A contact in GHL and here, linked (as the contact sync leaves it)."""
    remote = ghl.control.change_contact("create", locationId=LOCATION, firstName="Ana", lastName="Reyes",
                                        email="ana@example.com", phone="+15035550166")["contact"]
    local = Contact.objects.create(organization=org, first_name="Ana", last_name="Reyes", full_name="Ana Reyes",
                                   email="ana@example.com", phone="+15035550166")
    external_id_link(obj=local, provider="ghl", account_id=LOCATION, external_id=remote["id"],
                     connection_id=connection.pk)
    return local, remote["id"]


def recorded(ghl, receiver, *types: str, clear: bool = True) -> list[dict]:  # noqa: F811
    """Wait for the sandbox's deliveries; the recorded ones of these types, in order (all when none given)."""
    ghl.control.wait_webhooks(timeout=10)
    with receiver.lock:
        items = [i for i in receiver.received if not types or i["json"].get("type") in types]
        if clear:
            receiver.received.clear()
    return items


def signed(payload: dict) -> dict:
    """A fixture payload as a recorded delivery (signed with the sandbox's dev key), for `deliver`."""
    body = compact(fresh(payload))
    return {"body": body, "headers": {"x-ghl-signature": sign_ed25519(body)}}
