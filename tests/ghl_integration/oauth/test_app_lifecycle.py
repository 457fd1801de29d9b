"""INSTALL/UNINSTALL from the real sandbox, signed, through the webhook inbox to the connection."""
import time

import pytest

from ghl_integration.models import GhlAppInstallState, GhlConnection, WebhookEvent
from ghl_integration.webhooks.processing import webhook_event_process
from ghl_sandbox import constants as sbx
from tests.factories import OrganizationFactory, UserFactory, sandbox_connect


def _deliveries_stored(event_type: str, timeout: float = 10.0) -> list[WebhookEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(WebhookEvent.objects.filter(event_type=event_type))
        if events:
            return events
        time.sleep(0.05)
    raise AssertionError(f"no {event_type} reached the inbox")


@pytest.mark.django_db(transaction=True)
def test_uninstall_in_ghl_marks_the_connection_uninstalled_and_wipes_tokens(live_server, sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    owner = UserFactory()
    org = OrganizationFactory(name="Demo Dental", owner=owner)
    connection = sandbox_connect(sandbox, organization=org, user=owner)
    sandbox.control.webhooks(urls=[f"{live_server.url}/webhooks/ghl/"])

    sandbox.control.uninstall(locationId=sbx.DEMO_LOCATION_ID)
    assert sandbox.control.wait_webhooks(timeout=10)
    (event,) = _deliveries_stored("UNINSTALL")
    assert webhook_event_process(event_id=event.pk).status == "processed"

    connection.refresh_from_db()
    assert connection.status == GhlConnection.Status.UNINSTALLED
    assert connection.access_token is None and connection.refresh_token is None
    assert GhlAppInstallState.objects.get(resource_id=sbx.DEMO_LOCATION_ID).installed is False


@pytest.mark.django_db(transaction=True)
def test_install_before_the_callback_is_applied_when_the_connection_arrives(live_server, sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    sandbox.control.webhooks(urls=[f"{live_server.url}/webhooks/ghl/"])
    owner = UserFactory()
    org = OrganizationFactory(name="Demo Dental", owner=owner)

    sandbox.control.install(locationId=sbx.DEMO_LOCATION_ID)
    assert sandbox.control.wait_webhooks(timeout=10)
    (event,) = _deliveries_stored("INSTALL")
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert GhlAppInstallState.objects.get(resource_id=sbx.DEMO_LOCATION_ID).installed is True

    connection = sandbox_connect(sandbox, organization=org, user=owner)
    assert connection.config["install"]["planId"] == sbx.SANDBOX_PLAN_ID
    assert connection.status == GhlConnection.Status.ACTIVE


@pytest.mark.django_db
def test_a_lifecycle_event_of_another_app_is_refused_visibly(settings):
    from django.utils import timezone

    event = WebhookEvent.objects.create(
        event_type="UNINSTALL", webhook_id="w-other-app", location_id="loc-x", received_at=timezone.now(),
        body='{"type":"UNINSTALL","appId":"someone-else","locationId":"loc-x"}',
    )
    outcome = webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    assert outcome.status == "dead" and "not ours" in event.last_error
