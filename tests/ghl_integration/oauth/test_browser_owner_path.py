"""The owner's path in a real browser: log in, connect, watch the first pull move without a reload, find a
contact, edit it (a standard field and a GHL custom field), and see the edit in GHL (the sandbox) within seconds."""
import threading
import time

import pytest

from ghl_integration.contacts.outbound import contacts_push_pending
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.models import GhlConnection
from ghl_sandbox import constants as sbx
from tenancy.services import organization_create, user_create

from .test_browser_connect import open_browser  # noqa: F401  (the browser fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EDIT_SECONDS = 10


def _in_thread(fn, **kwargs) -> threading.Thread:
    """Run sync work beside the browser (Playwright's loop owns this thread; Django refuses ORM calls here)."""
    def run():
        from django.db import connection

        try:
            fn(**kwargs)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_owner_connects_watches_the_pull_finds_and_edits_a_contact(open_browser, live_server, sandbox,  # noqa: F811
                                                                    settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    settings.GHL_AUTHORIZE_URL = f"{sandbox.base_url}/oauth/chooselocation"
    settings.GHL_REDIRECT_URI = f"{live_server.url}/integrations/ghl/oauth/callback/"
    owner = user_create(username="demo-owner", password="demo-password")
    org = organization_create(name="Demo Dental", owner=owner)
    preferred_time = sandbox.control.change("customField.create", locationId=sbx.DEMO_LOCATION_ID,
                                            name="Preferred time", dataType="SINGLE_OPTIONS",
                                            picklistOptions=["Morning", "Afternoon"])["customField"]
    page = open_browser()

    # log in and connect
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "demo-owner")
    page.fill("#id_password", "demo-password")
    page.click("button[type=submit]")
    # from the workspace to connected: settings, Connect, Approve (GHL's chooser offers the sub-account)
    page.click(f"#ghl-settings-{org.pk}")
    page.click("#connect")
    page.wait_for_selector("#approve")
    assert page.eval_on_selector("#location", "select => select.value") == sbx.DEMO_LOCATION_ID
    page.click("#approve")
    page.wait_for_selector("#connection-status")
    assert page.inner_text("#connection-status") == f"Connected to {sbx.DEMO_LOCATION_NAME}"
    assert "Starting the first pull" in page.inner_text("#pull-status")

    # the pull runs (a worker's job) while the page is open: the card moves by itself
    page.evaluate("window.__notReloaded = true")
    pull = _in_thread(_pull_for, org_id=org.pk)
    page.wait_for_function("document.getElementById('pull-progress') && "
                           "document.getElementById('pull-progress').textContent.trim() === '50 / 50'",
                           timeout=20_000)
    pull.join()
    assert page.evaluate("window.__notReloaded") is True
    assert "Synced records: 50 contacts" in page.inner_text("#synced-counts")

    # find a contact and edit it
    page.click("#workspace-nav >> text=Contacts")
    target = sandbox.control.objects("contact", location_id=sbx.DEMO_LOCATION_ID)[0]
    page.fill("#q", target["email"])
    page.click("form.search button")
    page.locator("#contacts tbody a").first.click()
    page.click("#contact-edit")
    page.fill("#id_city", "Bright City")
    page.select_option("#id_cf_preferred_time", "Afternoon")  # a GHL custom field, offered with its values
    started = time.monotonic()
    page.click("#contact-save")
    page.wait_for_selector("text=was saved")

    # the push (a worker's job) sends it to GHL
    _in_thread(_push_for, org_id=org.pk).join()
    seconds = time.monotonic() - started
    remote = sandbox.control.objects("contact", target["id"])
    assert remote["city"] == "Bright City"
    assert {"id": preferred_time["id"], "value": "Afternoon"} in remote["customFields"]
    assert seconds < EDIT_SECONDS


def _pull_for(*, org_id: int) -> None:
    time.sleep(2.5)  # the page has polled at least once before the pull starts
    contacts_initial_pull(connection=_location_connection(org_id))


def _push_for(*, org_id: int) -> None:
    contacts_push_pending(connection_id=_location_connection(org_id).pk)


def _location_connection(org_id: int) -> GhlConnection:
    return GhlConnection.objects.get(organization_id=org_id, token_level=GhlConnection.TokenLevel.LOCATION)
