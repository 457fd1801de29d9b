"""A connected demo location, webhook delivery into the inbox, and helpers to make deals in the sandbox."""
import pytest

from crm.events import business_event
from ghl_sandbox import constants as sbx
from ghl_sandbox.testing import WebhookReceiver
from tests.factories import OrganizationFactory, sandbox_connect

LOCATION = sbx.DEMO_LOCATION_ID
PIPELINE = sbx.DEMO_PIPELINE_ID


@pytest.fixture
def ghl(sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    return sandbox


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Demo Dental", owner__username="owner")


@pytest.fixture
def connection(ghl, org):
    return sandbox_connect(ghl, organization=org, location_id=LOCATION)


@pytest.fixture
def receiver(ghl):
    """The sandbox delivers webhooks to a recording endpoint; `deliver` feeds them to the product's inbox."""
    with WebhookReceiver() as rx:
        ghl.control.webhooks(urls=[rx.url], retry_spacing_s=0.2)
        yield rx


@pytest.fixture
def announced():
    """The business events sent during the test: [(event, data)]."""
    seen: list[tuple[str, dict]] = []

    def receive(sender, *, event, data, **kwargs):
        seen.append((event, data))

    business_event.connect(receive, dispatch_uid="test-opportunity-events")
    yield seen
    business_event.disconnect(dispatch_uid="test-opportunity-events")


def stages(ghl) -> list[dict]:
    return ghl.control.objects("pipeline", PIPELINE)["stages"]


def ghl_contact_ids(ghl) -> list[str]:
    return [c["id"] for c in ghl.control.objects("contact", location_id=LOCATION)]


def make_deal(ghl, *, name: str = "Acme deal", contact: int = 0, stage: int = 0, value=12500, **fields) -> dict:
    """A deal made in GHL (as a person there would: it fires OpportunityCreate)."""
    return ghl.control.change("opportunity.create", locationId=LOCATION, pipelineId=PIPELINE, name=name,
                              status="open", contactId=ghl_contact_ids(ghl)[contact],
                              pipelineStageId=stages(ghl)[stage]["id"], monetaryValue=value, **fields)["opportunity"]


def wait_received(receiver, count: int, type_: str | None = None, timeout: float = 10) -> list[dict]:
    """The raw recorded deliveries (body + headers, for `deliver`) once ``count`` of them (of ``type_``) came."""
    receiver.wait_for(count, timeout=timeout, type_=type_)
    with receiver.lock:
        return [r for r in receiver.received if type_ is None or r["json"].get("type") == type_]
