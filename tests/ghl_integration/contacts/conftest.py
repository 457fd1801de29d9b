"""Fixtures for inbound contact sync tests: a connected demo location and webhook delivery into the inbox."""
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import connections

from crm.models import Contact, ExternalIdentity
from crm.sync.locks import sync_exclusive
from ghl_integration.client.contacts import ContactsApi
from ghl_integration.connections import connection_disconnect
from ghl_integration.contacts import pull as pull_module
from ghl_integration.contacts.mapping import contact_mapping_for
from ghl_integration.contacts.pull import PullTuning
from ghl_integration.contacts.shape import flatten_ghl_contact
from ghl_integration.models import GhlConnection
from ghl_integration.webhooks.processing import webhook_event_process
from ghl_integration.webhooks.services import webhook_receive
from ghl_sandbox import constants as sbx
from ghl_sandbox.testing import WebhookReceiver
from tests.factories import OrganizationFactory, sandbox_connect

LOCATION = sbx.DEMO_LOCATION_ID

#: One slice, one page per write, progress saved and the connection checked at every page: a test can stop or crash
#: a pull on an exact page and count its requests. Production's defaults are `PullTuning()`.
STEP_BY_STEP = PullTuning(apply_workers=1, max_fetchers=1, pages_per_write=1, progress_seconds=0,
                          disconnect_check_seconds=0)


@pytest.fixture
def step_by_step_pulls(monkeypatch):
    """Pulls that tasks and commands start (they take no tuning) go `STEP_BY_STEP`."""
    monkeypatch.setattr(pull_module, "PULL_DEFAULTS", STEP_BY_STEP)


@pytest.fixture
def ghl(sandbox, settings):
    settings.GHL_API_BASE_URL = sandbox.base_url
    return sandbox


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Demo Dental", owner__username="owner")


def connect(ghl, org, settings) -> GhlConnection:
    return sandbox_connect(ghl, organization=org, location_id=LOCATION)


@pytest.fixture
def connection(ghl, org, settings) -> GhlConnection:
    return connect(ghl, org, settings)


@pytest.fixture
def receiver(ghl):
    """The sandbox delivers webhooks to a recording endpoint; `deliver` feeds them to the product's inbox."""
    with WebhookReceiver() as rx:
        ghl.control.webhooks(urls=[rx.url], retry_spacing_s=0.2)
        yield rx


def deliver(received: list[dict]) -> list[str]:
    """Receive (verify, dedup, store) and process each recorded delivery, in the given order."""
    statuses = []
    for item in received:
        result = webhook_receive(body=item["body"], headers=item["headers"])
        assert result.status_code == 200, result.data
        if result.data.get("status") == "accepted":
            statuses.append(webhook_event_process(event_id=result.data["id"]).status)
        else:
            statuses.append(result.data["status"])
    return statuses


def ghl_contacts(ghl) -> dict[str, dict]:
    return {c["id"]: c for c in ghl.control.objects("contact", location_id=LOCATION)}


def page_writes_dying_on(write: int):
    """Patch the pull so that its ``write``-th page write dies, as a killed worker would (RuntimeError)."""
    real_apply = pull_module.contact_apply_remote_page
    calls = {"n": 0}

    def apply(**kwargs):
        calls["n"] += 1
        if calls["n"] == write:
            raise RuntimeError("worker killed")
        return real_apply(**kwargs)

    return mock.patch.object(pull_module, "contact_apply_remote_page", apply)


def page_writes_disconnecting(connection: GhlConnection):
    """Patch the pull so that the owner disconnects right after its first page write."""
    real_apply = pull_module.contact_apply_remote_page

    def apply(**kwargs):
        result = real_apply(**kwargs)
        connection_disconnect(connection=connection)
        return result

    return mock.patch.object(pull_module, "contact_apply_remote_page", apply)


def ghl_total_capped_at(most: int):
    """Patch the client so that GHL's search reports at most ``most`` contacts (as a search engine's capped
    count would)."""
    real_search = ContactsApi.search

    def search(self, **kwargs):
        page = real_search(self, **kwargs)
        return {**page, "total": min(page["total"], most)}

    return mock.patch.object(ContactsApi, "search", search)


def grow_demo_to(ghl, total: int) -> None:
    """Seed the demo location up to ``total`` contacts (it starts with 50)."""
    ghl.control.seed(locationId=LOCATION, contacts=total - len(ghl_contacts(ghl)), users=0, pipelines=False,
                     calendars=False, customFields=False)


def local_by_external_id(connection) -> dict[str, Contact]:
    links = dict(ExternalIdentity.objects.filter(provider="ghl", account_id=connection.location_id)
                 .values_list("object_id", "external_id"))
    return {links[c.pk]: c for c in Contact.objects.filter(pk__in=links)}


def assert_identical(ghl, connection):
    """Every mapped field of every GHL contact equals the local contact's value (and nothing extra is active)."""
    from crm.sync.hashing import canonical
    from crm.sync.kinds.contact import contact_clean_remote
    from crm.sync.mapping import get_local_value

    mapping = contact_mapping_for(connection)
    remote = ghl_contacts(ghl)
    local = local_by_external_id(connection)
    assert set(remote) == {k for k, c in local.items() if not c.is_archived}
    mismatches = []
    for ext_id, doc in remote.items():
        cleaned, _ = contact_clean_remote(connection.organization, mapping.to_local(flatten_ghl_contact(doc)))
        for name, value in cleaned.items():
            if canonical(get_local_value(local[ext_id], name)) != canonical(value):
                mismatches.append((ext_id, name, value, get_local_value(local[ext_id], name)))
    assert mismatches == []


@contextmanager
def held_elsewhere(name: str) -> Iterator[None]:
    """Another worker runs a job holding ``name`` for the duration of the block."""
    taken, done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold():
        try:
            with sync_exclusive(name):
                taken.set()
                done.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            taken.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(10)
    assert not errors, errors
    try:
        yield
    finally:
        done.set()
        thread.join(10)
