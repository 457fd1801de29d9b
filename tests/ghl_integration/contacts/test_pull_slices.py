"""The pull walks a location as concurrent dateAdded slices, against the sandbox: every contact exactly once at
slice edges (contacts of one millisecond, empty slices), a slice that fails resumes from its own cursor, the
production defaults, and a pull that runs out of time hands over to a follow-up that resumes it."""
import datetime as dt
import threading
import time
from dataclasses import replace
from unittest import mock

import pytest
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.sync.models import SyncRun
from ghl_integration.client import GhlServerError
from ghl_integration.client.contacts import ContactsApi
from ghl_integration.contacts import pull as pull_module
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_reconcile
from ghl_integration.contacts.tasks import contacts_initial_pull_task

from .conftest import (
    LOCATION,
    STEP_BY_STEP,
    deliver,
    ghl_contacts,
    ghl_total_capped_at,
    grow_demo_to,
    page_writes_dying_on,
)

pytestmark = pytest.mark.django_db

#: Up to four slices walked at once (the sandbox answers so fast that production's tuning would run two),
#: otherwise step by step.
SLICED = replace(STEP_BY_STEP, max_fetchers=4, burst_spread_seconds=0.001)


class Searches:
    """Records every search request's body (its filters and size) and GHL's answer size."""

    def __init__(self, fail_on: int | None = None):
        self.calls: list[dict] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __enter__(self):
        real = ContactsApi.search
        recorder = self

        def search(api, **kwargs):
            with recorder.lock:
                recorder.calls.append(kwargs)
                n = len(recorder.calls)
            if n == recorder.fail_on:
                raise GhlServerError("GHL is down", status=503)
            return real(api, **kwargs)

        self.patch = mock.patch.object(ContactsApi, "search", search)
        self.patch.start()
        return self

    def __exit__(self, *exc):
        self.patch.stop()

    def ranges(self) -> set[tuple]:
        return {tuple(sorted((f["value"] or {}).items())) for call in self.calls for f in (call.get("filters") or [])}


def _every_contact_once(ghl, connection) -> None:
    links = list(ExternalIdentity.objects.filter(provider="ghl", account_id=LOCATION)
                 .values_list("external_id", flat=True))
    assert len(links) == len(set(links)) and set(links) == set(ghl_contacts(ghl))
    assert Contact.objects.count() == len(links)


def _seed(ghl, count: int, *, start_ms: int, step_ms: int) -> None:
    ghl.control.seed(locationId=LOCATION, contacts=count, users=0, pipelines=False, calendars=False,
                     customFields=False, contactsStartMs=start_ms, contactsStepMs=step_ms)


def _resume_from(connection, slices: dict) -> SyncRun:
    """A pull that stopped with these slices saved (as a crashed worker leaves it)."""
    return SyncRun.objects.create(organization=connection.organization, provider="ghl",
                                  account_id=LOCATION, kind=SyncRun.Kind.INITIAL_PULL, connection_id=connection.pk,
                                  status=SyncRun.Status.FAILED, cursor={"slices": slices})


def test_a_sliced_pull_takes_every_contact_once_in_no_more_requests_than_pages(ghl, connection):
    # given: 2,000 contacts a second apart
    grow_demo_to(ghl, 2000)

    # when
    with Searches() as searches:
        result = contacts_initial_pull(connection=connection, tuning=SLICED)

    # then: several dateAdded slices, each ending with its remainder in one request: 20 requests at most
    assert len(searches.ranges()) >= 4
    assert result.run.status == "succeeded" and result.requests == len(searches.calls) <= 20
    assert max(call["page_limit"] for call in searches.calls) < 200
    assert result.run.progress_done == result.run.progress_total == result.run.created == 2000
    _every_contact_once(ghl, connection)


def test_contacts_added_in_one_millisecond_at_a_slice_edge_are_taken_once(ghl, connection):
    # given: the 50 demo contacts, then 400 imported in one millisecond, then 600 a second apart: the first page
    # ends inside the millisecond of the import, where the slices are cut
    import_ms = int(time.time() * 1000) - 4_000_000
    _seed(ghl, 400, start_ms=import_ms, step_ms=0)
    _seed(ghl, 600, start_ms=import_ms + 1000, step_ms=1000)
    ghl_ms = sorted(c["dateAdded"] for c in ghl_contacts(ghl).values())
    assert len(ghl_contacts(ghl)) == 1050 and len(ghl_ms) - len(set(ghl_ms)) >= 399

    # when
    with Searches() as searches:
        result = contacts_initial_pull(connection=connection, tuning=SLICED)

    # then: the millisecond stayed whole in the first slice; nothing was read twice or missed
    assert len(searches.ranges()) >= 2
    assert result.run.status == "succeeded" and result.run.created == 1050 == result.run.progress_done
    _every_contact_once(ghl, connection)


def test_a_slow_thread_cannot_let_the_next_page_of_its_slice_overtake_its_own(ghl, connection):
    # given: 300 contacts, one slice (too few to cut), four fetch threads; the thread that read the first page
    # stalls 0.5 s before handing it over (descheduled on a busy machine), and the second page write dies
    grow_demo_to(ghl, 300)
    real_put, stalled = pull_module._SlicedFetcher._put, []

    def put(fetcher, item):
        if item[0] == "page" and not stalled:
            stalled.append(item)
            time.sleep(0.5)
        return real_put(fetcher, item)

    with mock.patch.object(pull_module._SlicedFetcher, "_put", put), page_writes_dying_on(2), \
            pytest.raises(RuntimeError):
        contacts_initial_pull(connection=connection, tuning=SLICED)
    crashed = SyncRun.objects.get()
    assert crashed.status == "failed" and crashed.progress_done == 100

    # when: the pull resumes from what it saved
    result = contacts_initial_pull(connection=connection, resume=True, tuning=SLICED)

    # then: the pages were written in their slice's order, so the saved cursor never passed an unwritten page
    assert result.run.status == "succeeded"
    _every_contact_once(ghl, connection)


def test_a_resumed_pull_walks_each_slice_from_its_cursor_edges_and_empty_slices_included(ghl, connection):
    # given: 30 contacts in one millisecond T and 30 a second apart after it; a saved run with a slice that ends
    # at T, one that starts at T (its whole millisecond), one with nothing in it, and an open one
    t = int(time.time() * 1000) - 3_000_000
    _seed(ghl, 30, start_ms=t, step_ms=0)
    _seed(ghl, 30, start_ms=t + 100_000, step_ms=1000)
    run = _resume_from(connection, {
        "0": {"lo": None, "hi": t, "after": None, "taken": 0, "done": False},
        "1": {"lo": t, "hi": t + 1, "after": None, "taken": 0, "done": False},
        "2": {"lo": t + 1, "hi": t + 100_000, "after": None, "taken": 0, "done": False},
        "3": {"lo": t + 100_000, "hi": None, "after": None, "taken": 0, "done": False}})

    # when
    with Searches() as searches:
        result = contacts_initial_pull(connection=connection, resume=True, tuning=SLICED)

    # then: one short page per slice, the empty ones included; every contact once
    assert result.run.pk == run.pk and result.run.status == "succeeded"
    assert len(searches.calls) == 4 and len(searches.ranges()) == 4
    assert result.run.created == 110
    assert {state["done"] for state in result.run.cursor["slices"].values()} == {True}
    _every_contact_once(ghl, connection)


def test_a_slice_whose_request_fails_resumes_from_its_own_cursor(ghl, connection):
    # given: 2,000 contacts; GHL fails the 9th request (after retries), so one slice stops mid-walk
    grow_demo_to(ghl, 2000)
    with Searches(fail_on=9), pytest.raises(GhlServerError):
        contacts_initial_pull(connection=connection, tuning=SLICED)
    failed = SyncRun.objects.get(kind="initial_pull")
    saved = failed.cursor["slices"]
    assert failed.status == "failed" and len(saved) >= 2 and not all(s["done"] for s in saved.values())

    # when
    with Searches() as searches:
        result = contacts_initial_pull(connection=connection, resume=True, tuning=SLICED)

    # then: the same run went on from each slice's cursor: what was written is not asked again
    assert result.run.pk == failed.pk and result.run.status == "succeeded"
    assert len(searches.calls) <= 20 - failed.progress_done // 100 + len(saved)
    assert result.run.progress_done == 2000
    _every_contact_once(ghl, connection)


def test_a_sliced_pull_takes_every_contact_even_when_ghls_counts_understate(ghl, connection):
    # given: GHL reports at most 150 contacts for any search (as a search engine's capped count would)
    grow_demo_to(ghl, 2000)

    # when
    with ghl_total_capped_at(150):
        result = contacts_initial_pull(connection=connection, tuning=SLICED)

    # then: each slice went on until a page came back short
    assert result.run.status == "succeeded"
    _every_contact_once(ghl, connection)


def test_a_crash_mid_pull_resumes_every_slice_without_gaps_or_duplicates(ghl, connection):
    # given: the 9th page write dies, as a killed worker would
    grow_demo_to(ghl, 2000)
    with page_writes_dying_on(9), pytest.raises(RuntimeError):
        contacts_initial_pull(connection=connection, tuning=SLICED)
    crashed = SyncRun.objects.get(kind="initial_pull")
    # eight pages written: which ones depends on the fetch threads' timing, and a slice's last request takes its
    # remainder in one, so the count is not a fixed 800; what is fixed is that the run records what was written
    assert 0 < crashed.progress_done == Contact.objects.count() < 2000 and len(crashed.cursor["slices"]) >= 2

    # when
    with Searches() as searches:
        result = contacts_initial_pull(connection=connection, resume=True, tuning=SLICED)

    # then
    assert result.run.pk == crashed.pk and result.run.status == "succeeded"
    assert len(searches.calls) <= 12 + len(crashed.cursor["slices"])
    assert result.run.progress_done == 2000
    _every_contact_once(ghl, connection)


def test_a_pull_of_the_two_walk_kind_resumes_between_its_two_cursors(ghl, connection):
    # given: a run saved by the pull that walked from both ends (deployed while it ran), its head walk past the
    # 800th contact and its tail walk down to the 1,801st
    grow_demo_to(ghl, 2000)
    ordered = sorted(ghl_contacts(ghl).values(), key=lambda c: (c["dateAdded"], c["id"]))
    head = [_ms(ordered[799]["dateAdded"]), ordered[799]["id"]]
    tail = [_ms(ordered[1800]["dateAdded"]), ordered[1800]["id"]]
    run = SyncRun.objects.create(organization=connection.organization, provider="ghl", account_id=LOCATION,
                                 kind=SyncRun.Kind.INITIAL_PULL, connection_id=connection.pk,
                                 status=SyncRun.Status.FAILED, cursor={"searchAfter": head, "tailAfter": tail})

    # when
    result = contacts_initial_pull(connection=connection, resume=True, tuning=SLICED)

    # then: the middle was read (and the tail's own millisecond again, harmless), nothing else
    assert result.run.pk == run.pk and result.run.status == "succeeded"
    assert set(ExternalIdentity.objects.values_list("external_id", flat=True)) == {c["id"] for c in ordered[800:1801]}


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(__import__("django.db").db.connection.vendor != "postgresql",
                    reason="parallel writers need a database with row locks")
def test_a_pull_at_production_defaults_slices_and_writes_in_parallel(ghl, connection):
    # given: production's tuning, outside any transaction, and GHL answering in 100-150 ms
    assert pull_module.PULL_DEFAULTS == pull_module.PullTuning(
        apply_workers=4, max_fetchers=100, burst_spread_seconds=0.1, hold_writes_seconds=0.5,
        send_quiet_seconds=0.02, min_slice_pages=2, split_min_pages=3, pages_per_write=5, progress_seconds=0.5,
        disconnect_check_seconds=1.0)
    grow_demo_to(ghl, 3000)
    ghl.control.faults(seed=3, api={"latency_ms": 100, "latency_jitter_ms": 50})
    real_apply = pull_module.contact_apply_remote_page
    writer_threads = set()

    def apply(**kwargs):
        writer_threads.add(threading.current_thread().name)
        return real_apply(**kwargs)

    # when
    with mock.patch.object(pull_module, "contact_apply_remote_page", apply), Searches() as searches:
        result = contacts_initial_pull(connection=connection)
    ghl.control.clear_faults()

    # then: the round trip called for many requests at once (100 × ~0.13 s / 0.5 s), so many slices; several
    # writer threads wrote (four at most); no more requests than pages; every contact once
    assert len(searches.ranges()) >= 10
    assert 2 <= len(writer_threads) <= 4 and all(name.startswith("ghl-pull-write") for name in writer_threads)
    assert result.run.status == "succeeded" and result.requests == len(searches.calls) <= 30
    assert result.run.progress_done == result.run.progress_total == result.run.created == 3000
    _every_contact_once(ghl, connection)


def test_a_pull_out_of_time_writes_what_is_in_flight_and_hands_over(ghl, connection, monkeypatch):
    # given: a pull task whose time is up as soon as it wrote its first page, against a GHL answering in ~400 ms
    grow_demo_to(ghl, 1500)
    ghl.control.faults(seed=5, api={"latency_ms": 400})
    monkeypatch.setattr(pull_module, "PULL_DEFAULTS", SLICED)
    monkeypatch.setattr(pull_module, "PULL_TASK_BUDGET_SECONDS", 0)
    requested_at = timezone.now().isoformat()
    queued = []

    # when: each follow-up the task queues is run in turn, as a pulls worker would
    with mock.patch.object(contacts_initial_pull_task, "delay", side_effect=lambda *a: queued.append(a)), \
            Searches() as searches:
        statuses = [contacts_initial_pull_task(connection.pk, False, requested_at)]
        while queued and len(statuses) < 40:
            statuses.append(contacts_initial_pull_task(*queued.pop(0)))
    ghl.control.clear_faults()

    # then: several handovers of one run, each resumed from the cursor: no request repeated, every contact once
    assert statuses[-1] == "succeeded" and set(statuses[:-1]) == {"handed-over"} and len(statuses) >= 2
    assert SyncRun.objects.count() == 1 and SyncRun.objects.get().progress_done == 1500
    assert len(searches.calls) <= 15 + 4 * len(statuses)
    bodies = [(repr(c.get("filters")), repr(c.get("search_after"))) for c in searches.calls]
    assert len(bodies) == len(set(bodies))
    _every_contact_once(ghl, connection)


def test_a_handed_over_pull_whose_follow_up_was_lost_is_resumed_by_the_beat(ghl, connection, monkeypatch):
    from ghl_integration.contacts.runs import pull_orphaned

    # given: a pull that handed over after its first page, and a broker that lost the follow-up
    grow_demo_to(ghl, 1500)
    ghl.control.faults(seed=5, api={"latency_ms": 100})
    monkeypatch.setattr(pull_module, "PULL_DEFAULTS", SLICED)
    monkeypatch.setattr(pull_module, "PULL_TASK_BUDGET_SECONDS", 0)
    with mock.patch.object(contacts_initial_pull_task, "delay", side_effect=ConnectionError("broker down")):
        assert contacts_initial_pull_task(connection.pk, False, timezone.now().isoformat()) == "handed-over"
    ghl.control.clear_faults()

    # then: the run is running, unlocked, its heartbeat stopped: the orphan sweep's to resume once it is silent
    run = SyncRun.objects.get()
    assert run.status == "running" and run.cursor["slices"] and pull_orphaned(connection=connection) is None
    SyncRun.objects.update(heartbeat_at=timezone.now() - dt.timedelta(seconds=60))
    assert pull_orphaned(connection=connection).pk == run.pk


def _create_in_ghl(ghl, name: str) -> str:
    created = ghl.control.change_contact("create", locationId=LOCATION, firstName=name, lastName="Added",
                                         email=f"{name.lower()}@example.com")
    return created["contact"]["id"]


def _local_copies(external_id: str) -> int:
    links = ExternalIdentity.objects.filter(provider="ghl", account_id=LOCATION, external_id=external_id)
    return Contact.objects.filter(pk__in=links.values("object_id")).count() if links.count() == 1 else links.count()


def test_a_contact_added_in_ghl_during_a_sliced_pull_is_here_once_whether_its_webhook_or_the_page_comes_first(
        ghl, connection, receiver):
    # given: 2,000 contacts; as the pull's first page comes back (before the location is cut into slices), two
    # contacts are added in GHL (dateAdded now: the open last slice). The first one's webhook is applied just
    # before the pull writes the page holding it, the second one's after the pull.
    grow_demo_to(ghl, 2000)
    real_search, real_apply = ContactsApi.search, pull_module.contact_apply_remote_page
    added: list[str] = []
    seen_by_pull: list[str] = []

    def search(api, **kwargs):
        page = real_search(api, **kwargs)
        if not added:
            added.extend([_create_in_ghl(ghl, "Early"), _create_in_ghl(ghl, "Late")])
        return page

    def apply(**kwargs):
        ids = [r.external_id for r in kwargs["records"]]
        if added[0] in ids:
            assert ghl.control.wait_webhooks()
            assert deliver([d for d in receiver.received if d["json"].get("id") == added[0]]) == ["processed"]
            assert _local_copies(added[0]) == 1
        seen_by_pull.extend(ids)
        return real_apply(**kwargs)

    # when
    with mock.patch.object(ContactsApi, "search", search), \
            mock.patch.object(pull_module, "contact_apply_remote_page", apply):
        result = contacts_initial_pull(connection=connection, tuning=SLICED)
    assert ghl.control.wait_webhooks()
    statuses = deliver([d for d in receiver.received if d["json"].get("id") == added[1]])
    reconciled = contacts_reconcile(connection=connection)

    # then: the pull read each once, the webhooks and the reconciliation found them linked: one local contact
    # each, like every other GHL contact
    assert result.run.status == "succeeded" and reconciled.run.status == "succeeded"
    assert [seen_by_pull.count(external_id) for external_id in added] == [1, 1] and statuses == ["processed"]
    assert result.run.created == 2001  # the early one was the webhook's
    assert [_local_copies(external_id) for external_id in added] == [1, 1]
    _every_contact_once(ghl, connection)


def test_a_contact_added_in_ghl_after_the_pull_read_its_slice_comes_by_webhook_or_else_by_the_reconciliation(
        ghl, connection, receiver):
    # given: 2,000 contacts; once the pull has read and written every slice, before it ends, two contacts are
    # added in GHL: one's webhook arrives, the other's is lost
    grow_demo_to(ghl, 2000)
    real_finish = pull_module.sync_run_finish
    added: list[str] = []

    def finish(**kwargs):
        if not added:
            ghl.control.faults(webhook={"drop": 1.0})
            added.append(_create_in_ghl(ghl, "Unheard"))
            assert ghl.control.wait_webhooks()
            ghl.control.clear_faults()
            added.append(_create_in_ghl(ghl, "Heard"))
        return real_finish(**kwargs)

    # when
    with mock.patch.object(pull_module, "sync_run_finish", finish):
        result = contacts_initial_pull(connection=connection, tuning=SLICED)
    assert ghl.control.wait_webhooks()
    statuses = deliver(receiver.received)
    after_webhooks = [_local_copies(external_id) for external_id in added]
    reconciled = contacts_reconcile(connection=connection)

    # then: the webhook brought one, the reconciliation the other; each is here once, like every other contact
    assert result.run.status == "succeeded" and result.run.created == 2000
    assert reconciled.run.status == "succeeded"
    assert statuses == ["processed"] and after_webhooks == [0, 1]
    assert [_local_copies(external_id) for external_id in added] == [1, 1]
    _every_contact_once(ghl, connection)
