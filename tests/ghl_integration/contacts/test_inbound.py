"""Inbound contact sync against the sandbox over HTTP: pull, resume, webhooks, ordering, reconciliation,
disconnect, deletion sweep."""
import time
from dataclasses import replace
from unittest import mock

import pytest

from crm.models import Contact, ExternalIdentity
from crm.sync.models import FieldMapping, SyncRun
from ghl_integration.connections import connection_disconnect
from ghl_integration.contacts import pull as pull_module
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_deletion_sweep, contacts_reconcile

from .conftest import (
    LOCATION,
    STEP_BY_STEP,
    assert_identical,
    connect,
    deliver,
    ghl_contacts,
    ghl_total_capped_at,
    grow_demo_to,
    local_by_external_id,
    page_writes_dying_on,
)

pytestmark = pytest.mark.django_db


def _pull_crashing_on_write(connection, write: int, **kwargs) -> None:
    """Run a pull whose ``write``-th page write dies (as a killed worker would); the pull raises."""
    kwargs.setdefault("tuning", STEP_BY_STEP)
    with page_writes_dying_on(write), pytest.raises(RuntimeError):
        contacts_initial_pull(connection=connection, **kwargs)


def test_initial_pull_of_2000_survives_a_crash_and_resumes_without_duplicates_or_gaps(ghl, connection):
    # given: 2,000 contacts in GHL; the apply dies on the 8th page
    grow_demo_to(ghl, 2000)

    # when
    _pull_crashing_on_write(connection, 8)
    crashed = SyncRun.objects.get(kind="initial_pull")
    assert crashed.status == "failed" and crashed.progress_done == 700 and crashed.cursor
    ghl.control.clear_request_log()
    result = contacts_initial_pull(connection=connection, resume=True, tuning=STEP_BY_STEP)

    # then: the same run finished from its cursor (13 pages, not 20), every id exactly once
    assert result.run.pk == crashed.pk and result.run.status == "succeeded"
    assert result.pages == 13
    assert len(ghl.control.request_log(path="/contacts/search")) == 13
    remote = ghl_contacts(ghl)
    links = list(ExternalIdentity.objects.filter(provider="ghl", account_id=LOCATION)
                 .values_list("external_id", flat=True))
    assert sorted(links) == sorted(remote)
    assert Contact.objects.count() == 2000
    assert Contact.objects.values("email").distinct().count() == 2000
    assert result.run.progress_done == result.run.progress_total == 2000
    # names come back properly cased from the search results' `name`
    sample_id, sample = next(iter(remote.items()))
    assert local_by_external_id(connection)[sample_id].first_name == sample["firstName"]
    # the location's contact custom fields became mapping rows
    keys = set(FieldMapping.objects.filter(account_id=LOCATION).values_list("local_field", flat=True))
    assert {"custom_properties.preferred_dentist", "custom_properties.insurance_provider"} <= keys


def test_pages_fetched_while_a_write_runs_are_written_together(ghl, connection):
    # given: up to 5 pages per write, and a first write that lasts until every page has been fetched
    tuning = replace(STEP_BY_STEP, pages_per_write=5)
    grow_demo_to(ghl, 2000)
    real_apply = pull_module.contact_apply_remote_page
    written = []

    def slow_first_apply(**kwargs):
        if not written:
            deadline = time.monotonic() + 30
            while len(ghl.control.request_log(path="/contacts/search")) < 20 and time.monotonic() < deadline:
                time.sleep(0.05)
        written.append(len(kwargs["records"]))
        return real_apply(**kwargs)

    # when
    with mock.patch.object(pull_module, "contact_apply_remote_page", slow_first_apply):
        result = contacts_initial_pull(connection=connection, tuning=tuning)

    # then: the 19 queued pages went in 4 writes of up to 500 contacts, and nothing differs from page by page
    assert written == [100, 500, 500, 500, 400]
    assert result.run.status == "succeeded" and result.pages == 20 and result.requests == 20
    assert result.run.progress_done == result.run.progress_total == result.run.created == 2000
    assert sorted(ExternalIdentity.objects.values_list("external_id", flat=True)) == sorted(ghl_contacts(ghl))
    assert Contact.objects.count() == 2000


def test_progress_saved_twice_a_second_still_ends_exact_and_a_crash_resumes_from_what_was_saved(ghl, connection):
    # given: progress saved at most once an hour (so only at the end or a stop); the apply dies on page 8
    tuning = replace(STEP_BY_STEP, progress_seconds=3600)
    grow_demo_to(ghl, 1500)
    saves = []

    _pull_crashing_on_write(connection, 8, on_page=lambda run: saves.append(run.progress_done), tuning=tuning)

    # then: one save, at the stop, with the seven written pages and their cursor
    crashed = SyncRun.objects.get(kind="initial_pull")
    assert saves == [700] and crashed.progress_done == 700 and crashed.created == 700 and crashed.cursor
    result = contacts_initial_pull(connection=connection, resume=True, tuning=tuning,
                                   on_page=lambda run: saves.append(run.progress_done))
    assert saves == [700, 1500] and result.pages == 8
    assert result.run.progress_done == result.run.progress_total == Contact.objects.count() == 1500


def test_a_single_walk_takes_every_contact_even_when_ghls_total_understates(ghl, connection):
    # given: one walk over 450 contacts, and GHL reporting at most 250 of them
    grow_demo_to(ghl, 450)

    # when
    with ghl_total_capped_at(250):
        result = contacts_initial_pull(connection=connection, tuning=STEP_BY_STEP)

    # then: the walk went on to its last, short page: 100, the 151 the count called the last request (it came
    # back full), then pages of 100 until one came back short
    assert result.run.status == "succeeded"
    assert sorted(ExternalIdentity.objects.values_list("external_id", flat=True)) == sorted(ghl_contacts(ghl))
    assert len(ghl.control.request_log(path="/contacts/search")) == 4


def test_connecting_loads_the_field_mapping_so_the_pull_asks_only_for_pages(ghl, org, settings):
    # when: the owner connects
    connection = connect(ghl, org, settings)

    # then: the location's contact custom fields are mapping rows already...
    custom = {f["id"] for f in ghl.control.objects("customField", location_id=LOCATION) if f.get("model") == "contact"}
    rows = set(FieldMapping.objects.filter(account_id=LOCATION).values_list("remote_key", flat=True))
    assert {f"customFields.{field_id}" for field_id in custom} <= rows and custom
    # ...so the pull's requests are its pages
    ghl.control.clear_request_log()
    result = contacts_initial_pull(connection=connection)
    assert [r["path"] for r in ghl.control.request_log() if not r["path"].startswith("/oauth")] == \
        ["/contacts/search"] * result.requests


def test_if_ghl_fails_the_mapping_load_the_connect_succeeds_and_the_pull_loads_it(ghl, org, settings):
    from ghl_integration.client import GhlServerError
    from ghl_integration.contacts import services

    # The connect's receiver (`contacts_on_connected`) loads the mapping; the pull loads it again if needed.
    with mock.patch.object(services, "contact_mapping_ensure_defaults",
                           side_effect=GhlServerError("GHL is down", status=503)):
        connection = connect(ghl, org, settings)
    assert connection.is_active
    assert not FieldMapping.objects.filter(account_id=LOCATION).exists()

    contacts_initial_pull(connection=connection)

    assert FieldMapping.objects.filter(account_id=LOCATION, remote_key__startswith="customFields.").exists()


def test_a_change_in_ghl_arrives_by_webhook(ghl, connection, receiver):
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))

    ghl.control.change_contact("update", contactId=contact_id, firstName="Annabel", city="Salem")
    assert ghl.control.wait_webhooks()

    assert deliver(receiver.received) == ["processed"]
    local = local_by_external_id(connection)[contact_id]
    assert (local.first_name, local.city) == ("Annabel", "Salem")


def test_a_late_older_webhook_does_not_overwrite_newer_state(ghl, connection, receiver):
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    ghl.control.change_contact("update", contactId=contact_id, firstName="Older")
    ghl.control.change_contact("update", contactId=contact_id, firstName="Newer")
    assert ghl.control.wait_webhooks()
    older, newer = receiver.received

    # the newer event arrives first, the older one late
    assert deliver([newer, older]) == ["processed", "processed"]

    assert local_by_external_id(connection)[contact_id].first_name == "Newer"


def test_reconciliation_repairs_dropped_duplicated_and_reordered_webhooks(ghl, connection, receiver):
    # given: a pulled location, then 40 changes in GHL with 10% of webhooks dropped, duplicated, reordered
    contacts_initial_pull(connection=connection)
    ghl.control.faults(seed=11, webhook={"drop": 0.1, "duplicate": 0.1, "reorder": 0.1})
    dentist_field = FieldMapping.objects.get(local_field="custom_properties.preferred_dentist").remote_key
    ids = list(ghl_contacts(ghl))
    for i, contact_id in enumerate(ids[:30]):
        ghl.control.change_contact("update", contactId=contact_id, firstName=f"First{i}", city=f"City{i}",
                                   customFields=[{"id": dentist_field.split(".", 1)[1], "field_value": f"Dr {i}"}])
    for contact_id in ids[30:35]:
        ghl.control.change_contact("tags", contactId=contact_id, add=["vip"], remove=["lead"])
    for contact_id in ids[35:38]:
        ghl.control.change_contact("dnd", contactId=contact_id, dnd=True)
    for i in range(2):
        ghl.control.change_contact("create", locationId=LOCATION, firstName=f"New{i}", lastName="Person",
                                   email=f"new{i}@example.com", phone=f"+1555999000{i}")
    assert ghl.control.wait_webhooks(timeout=15)
    assert ghl.control.webhook_deliveries(outcome="dropped")  # the faults did bite
    deliver(receiver.received)  # what arrived, in the order it arrived

    # when
    result = contacts_reconcile(connection=connection)

    # then: both sides identical, in one search request
    assert result.run.status == "succeeded"
    assert result.requests == 1
    assert_identical(ghl, connection)


def test_reconciliation_costs_requests_per_change_not_per_contact(ghl, connection):
    grow_demo_to(ghl, 1000)
    contacts_initial_pull(connection=connection)
    ids = list(ghl_contacts(ghl))[:5]
    ghl.control.webhooks(urls=[])  # nothing is delivered: only reconciliation can find the changes
    for contact_id in ids:
        ghl.control.change_contact("update", contactId=contact_id, lastName="Changed")
    ghl.control.clear_request_log()

    result = contacts_reconcile(connection=connection)

    # one page of changes; the 2-minute overlap also re-reads contacts seeded just before the pull
    assert result.requests == len(ghl.control.request_log(path="/contacts/search")) <= 2
    assert result.repaired_remote == 5
    local = local_by_external_id(connection)
    assert {local[i].last_name for i in ids} == {"Changed"}
    # the next run starts where this one stopped (minus the overlap): nothing new to repair
    assert contacts_reconcile(connection=connection).repaired == 0


def _disconnect_once(connection, *, done: int):
    """An `on_page` callback: the owner disconnects once ``done`` contacts have been written."""
    def on_page(run):
        if run.progress_done == done:
            connection_disconnect(connection=connection)
    return on_page


def test_disconnect_mid_pull_stops_cleanly_and_keeps_every_applied_page(ghl, connection, org, settings):
    grow_demo_to(ghl, 800)

    result = contacts_initial_pull(connection=connection, on_page=_disconnect_once(connection, done=300),
                                   tuning=STEP_BY_STEP)

    assert result.run.status == "cancelled"
    assert result.run.progress_done == Contact.objects.count() == 300
    assert ExternalIdentity.objects.count() == 300
    # reconnecting resumes from the cursor and completes: nothing lost, nothing doubled
    connection = connect(ghl, org, settings)
    resumed = contacts_initial_pull(connection=connection, resume=True, tuning=STEP_BY_STEP)
    assert resumed.run.pk == result.run.pk and resumed.run.status == "succeeded"
    assert resumed.pages == 5
    assert Contact.objects.count() == 800 == ExternalIdentity.objects.count()


def test_a_disconnect_between_checks_is_still_noticed_before_the_pull_succeeds(ghl, connection):
    # given: the connection is checked at most once an hour, so not again after the third page...
    grow_demo_to(ghl, 800)

    result = contacts_initial_pull(connection=connection, on_page=_disconnect_once(connection, done=300),
                                   tuning=replace(STEP_BY_STEP, disconnect_check_seconds=3600))

    # ...but once more before finishing: the pages written are kept, the run is not "succeeded"
    assert result.run.status == "cancelled"
    assert result.run.progress_done == Contact.objects.count() == 800


def test_the_disconnect_check_queries_at_most_once_per_interval():
    relay = mock.Mock()
    check = pull_module._DisconnectCheck(relay, every_seconds=1.0)
    with mock.patch.object(pull_module.time, "monotonic", side_effect=[100.0, 100.5, 100.99, 101.0, 101.2, 101.3]):
        check()  # the first page: checked
        check()
        check()
        check()  # a second after the last check: checked
        check()
        check(force=True)  # the end of the pull: checked whatever the time
    assert relay.refresh.call_count == 3


def test_deletion_sweep_archives_and_never_destroys(ghl, connection):
    contacts_initial_pull(connection=connection)
    ghl.control.webhooks(urls=[])
    gone = list(ghl_contacts(ghl))[:2]
    for contact_id in gone:
        ghl.control.change_contact("delete", contactId=contact_id)

    result = contacts_deletion_sweep(connection=connection)

    assert result.run.status == "succeeded" and result.repaired_remote == 2
    local = local_by_external_id(connection)
    assert len(local) == 50  # rows and links stay
    assert {i for i, c in local.items() if c.is_archived} == set(gone)


def test_contact_delete_webhook_archives(ghl, connection, receiver):
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    ghl.control.change_contact("delete", contactId=contact_id)
    assert ghl.control.wait_webhooks()

    assert deliver(receiver.received) == ["processed"]
    contact = local_by_external_id(connection)[contact_id]
    assert contact.is_archived


def test_reconciliation_queues_local_changes_that_never_reached_the_outbox(ghl, connection):
    from django.utils import timezone

    from crm.sync.models import OutboxEntry

    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    local = local_by_external_id(connection)[contact_id]
    # a write that bypassed the services (so no outbox entry), e.g. a lost transaction hook
    Contact.objects.filter(pk=local.pk).update(first_name="Local", updated_at=timezone.now())

    result = contacts_reconcile(connection=connection)

    assert result.queued_local == 1
    entry = OutboxEntry.objects.get(object_id=local.pk, account_id=LOCATION)
    assert entry.status == "pending" and "first_name" in entry.changed_fields
    assert contacts_reconcile(connection=connection).queued_local == 0  # the open entry is enough


def test_a_token_refresh_needed_by_the_fetcher_happens_in_the_main_thread(ghl, connection):
    # given: the fetcher's second page needs a forced token refresh (a 401), which only the main thread may do
    grow_demo_to(ghl, 300)
    calls = {"forced": 0}
    real_relay_call = pull_module._TokenRelay.__call__

    def relay_call(self, force_refresh=False):
        if force_refresh:
            calls["forced"] += 1
        return real_relay_call(self, force_refresh)

    from ghl_integration.client import contacts as contacts_api

    original = contacts_api.ContactsApi.search
    state = {"refused": False}

    def search_once_refused(self, **kwargs):
        if kwargs.get("search_after") and not state["refused"]:
            state["refused"] = True
            raise pull_module._RefreshInMainThread()
        return original(self, **kwargs)

    # when
    with mock.patch.object(contacts_api.ContactsApi, "search", search_once_refused), \
            mock.patch.object(pull_module._TokenRelay, "__call__", relay_call):
        result = contacts_initial_pull(connection=connection)

    # then: the pull went on from the page after the last delivered one: no gap, no duplicate
    assert result.run.status == "succeeded" and calls["forced"] == 1
    assert Contact.objects.count() == 300 == result.run.progress_done
    assert sorted(ExternalIdentity.objects.values_list("external_id", flat=True)) == sorted(ghl_contacts(ghl))


def _nameless_create_in_ghl(ghl, receiver) -> tuple[str, list[dict]]:
    """GHL creates a contact with neither email nor phone; returns its id and the recorded deliveries."""
    created = ghl.control.change_contact("create", locationId=LOCATION, firstName="Nameless")
    assert ghl.control.wait_webhooks()
    return created.get("id") or created["contact"]["id"], list(receiver.received)


def test_the_echo_of_our_own_create_arriving_before_its_link_makes_no_duplicate(ghl, connection, receiver):
    from crm.services.contacts import contact_create
    from crm.sync.outbox import outbox_claim_batch, outbox_mark_done, outbox_record
    from ghl_integration.models import WebhookEvent
    from ghl_integration.webhooks.processing import webhook_event_process

    # given: a local contact with nothing to match on, whose create push is in flight (claimed, not linked)
    contact = contact_create(organization=connection.organization, first_name="Nameless")
    outbox_record(obj=contact, fields=["first_name"], targets=[("ghl", LOCATION)])
    (entry,) = outbox_claim_batch(provider="ghl", account_id=LOCATION)
    contacts_before = Contact.objects.count()

    # when: the push's ContactCreate webhook arrives before the push has written the link
    ghl_id, received = _nameless_create_in_ghl(ghl, receiver)
    assert deliver(received) == ["failed"]

    # then: no second local contact; the event is retried within seconds, not after the usual backoff
    assert Contact.objects.count() == contacts_before
    event = WebhookEvent.objects.get(event_type="ContactCreate")
    assert "in flight" in event.last_error
    assert (event.next_attempt_at - event.queued_at).total_seconds() < 5

    # when the push finishes and links, the retried event is our echo
    outbox_mark_done(entry=entry, remote_id=ghl_id, connection_id=connection.pk)
    assert webhook_event_process(event_id=event.pk).status == "processed"
    assert Contact.objects.count() == contacts_before
    assert ExternalIdentity.objects.get(external_id=ghl_id).object_id == contact.pk


def test_a_contact_created_in_ghl_with_no_push_in_flight_is_created_at_once(ghl, connection, receiver):
    contacts_before = Contact.objects.count()
    ghl_id, received = _nameless_create_in_ghl(ghl, receiver)
    assert deliver(received) == ["processed"]
    assert Contact.objects.count() == contacts_before + 1
    assert Contact.objects.get(pk=ExternalIdentity.objects.get(external_id=ghl_id).object_id).first_name == "Nameless"


def test_a_pull_records_the_values_it_had_to_refuse(ghl, connection):
    # given: GHL holds a contact whose phone is not a phone number (and, to keep the sample small, nothing else)
    for contact_id in ghl_contacts(ghl):
        ghl.control.change_contact("delete", contactId=contact_id)
    bad = ghl.control.change_contact("create", locationId=LOCATION, firstName="Junk", phone="call me maybe",
                                     email="junk.phone@example.com")
    good = ghl.control.change_contact("create", locationId=LOCATION, firstName="Fine", phone="+1 503 555 0142")
    bad_id, good_id = bad["contact"]["id"], good["contact"]["id"]

    # when
    run = contacts_initial_pull(connection=connection).run

    # then: the contact is stored without the phone, and the run says so (admin, settings page, ghl_sync)
    local = local_by_external_id(connection)
    assert (local[bad_id].email, local[bad_id].phone) == ("junk.phone@example.com", "")
    assert local[good_id].phone == "+15035550142"
    assert (run.created, run.refused) == (2, 1)
    [sample] = run.refusal_samples
    assert sample["external_id"] == bad_id and "phone" in sample["error"] and "call me maybe" in sample["error"]
