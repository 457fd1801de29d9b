"""Reconciliation and the deletion sweep are bounded in time and hand over what is left (#19): a follow-up task
continues the run from its cursor, nothing skipped or done twice, one run per location at a time."""
from unittest import mock

import pytest
from django.utils import timezone

from crm.models import Contact
from crm.sync.models import OutboxEntry, SyncRun
from ghl_integration.contacts import reconcile as reconcile_module
from ghl_integration.contacts import tasks
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import Handover, contacts_reconcile

from .conftest import ghl_contacts, local_by_external_id

pytestmark = pytest.mark.django_db


def _run_with_follow_ups(task, connection_id: int) -> list[tuple]:
    """Run ``task`` as a worker would, then each follow-up it queues; returns the follow-ups' arguments."""
    queued: list[tuple] = []
    with mock.patch.object(task, "apply_async", side_effect=lambda args: queued.append(tuple(args))):
        task(connection_id)
        for args in queued:  # grows while the follow-ups run
            task(*args)
    return queued


def _searches(ghl) -> int:
    return len(ghl.control.request_log(path="/contacts/search"))


def test_a_reconciliation_out_of_time_hands_over_and_the_follow_ups_finish_it_once(ghl, connection, monkeypatch):
    # given: 25 contacts changed in GHL with no webhook (read 10 a page), 5 changed here without reaching the
    # outbox (queued 2 a batch); every task runs out of time after one step
    contacts_initial_pull(connection=connection)
    ghl.control.webhooks(urls=[])
    changed = sorted(ghl_contacts(ghl))[:25]
    for contact_id in changed:
        ghl.control.change_contact("update", contactId=contact_id, lastName="Changed")
    untouched_in_ghl = sorted(c.pk for i, c in local_by_external_id(connection).items() if i not in changed)
    local_only = untouched_in_ghl[:5]
    Contact.objects.filter(pk__in=local_only).update(city="Changed here", updated_at=timezone.now())
    monkeypatch.setattr(reconcile_module, "RECONCILE_BUDGET_SECONDS", 0)
    monkeypatch.setattr(reconcile_module, "RECONCILE_PAGE_SIZE", 10)
    monkeypatch.setattr(reconcile_module, "QUEUE_UNPUSHED_BATCH", 2)
    ghl.control.clear_request_log()

    # when
    follow_ups = _run_with_follow_ups(tasks.contacts_reconcile_task, connection.pk)

    # then: one run; every page read once, one per task (the window also holds contacts the demo seeded
    # within the 2-minute overlap), then the local side in batches of 2, 2, 1, one per task
    run = SyncRun.objects.get(kind="reconcile")
    assert run.status == "succeeded"
    pages = -(-run.progress_total // 10)
    assert run.progress_total >= 25 and pages >= 3
    assert _searches(ghl) == pages
    assert run.progress_done == run.progress_total
    assert len(follow_ups) == (pages - 1) + 2
    assert [number for _, _, number in follow_ups] == list(range(1, len(follow_ups) + 1))
    assert run.updated == 25
    local = local_by_external_id(connection)
    assert {local[i].last_name for i in changed} == {"Changed"}
    entries = OutboxEntry.objects.filter(object_id__in=local_only, account_id=connection.location_id)
    assert sorted(entries.values_list("object_id", flat=True)) == sorted(local_only)  # each queued once
    assert run.cursor["queued_local"] == 5

    # and: a redelivered follow-up finds its run continued already and does nothing
    ghl.control.clear_request_log()
    assert tasks.contacts_reconcile_task(*follow_ups[0]) == 0
    assert _searches(ghl) == 0 and SyncRun.objects.filter(kind="reconcile").count() == 1
    # the next reconciliation starts where this one did
    assert contacts_reconcile(connection=connection).run.pk != run.pk


def test_the_next_run_continues_a_handed_over_one_and_its_follow_up_then_does_nothing(ghl, connection):
    contacts_initial_pull(connection=connection)
    ghl.control.clear_request_log()
    first = contacts_reconcile(connection=connection, page_size=20, budget_seconds=0)
    assert first.handover == Handover(first.run.pk, 1) and first.run.status == "running"
    assert first.run.cursor["search_after"]

    # when: the beat's reconciliation gets the lock before the follow-up
    beat = contacts_reconcile(connection=connection, page_size=20, budget_seconds=None)

    # then: it continued the same run from its cursor (50 contacts: pages of 20, 20, 10, each read once)
    assert beat.run.pk == first.run.pk and beat.run.status == "succeeded" and beat.handover is None
    assert _searches(ghl) == 3 and beat.run.progress_done == 50
    late = contacts_reconcile(connection=connection, page_size=20, handover=first.handover)
    assert late.superseded and late.run is None and _searches(ghl) == 3


def test_a_run_left_running_without_a_cursor_is_closed_and_a_fresh_one_started(ghl, connection):
    contacts_initial_pull(connection=connection)
    dead = SyncRun.objects.create(organization=connection.organization, provider="ghl",
                                  account_id=connection.location_id, kind="reconcile")

    result = contacts_reconcile(connection=connection)

    dead.refresh_from_db()
    assert dead.status == "failed" and "not resumable" in dead.error
    assert result.run.pk != dead.pk and result.run.status == "succeeded"


def test_a_deletion_sweep_out_of_time_hands_over_its_listing_and_archives_exactly_the_gone(
        ghl, connection, monkeypatch):
    # given: 50 contacts, listed 20 a page; 3 deleted in GHL without a webhook
    contacts_initial_pull(connection=connection)
    ghl.control.webhooks(urls=[])
    gone = sorted(ghl_contacts(ghl))[10:13]
    for contact_id in gone:
        ghl.control.change_contact("delete", contactId=contact_id)
    monkeypatch.setattr(reconcile_module, "SWEEP_PAGE_SIZE", 20)
    monkeypatch.setattr(reconcile_module, "RECONCILE_BUDGET_SECONDS", 0)
    ghl.control.clear_request_log()

    # when
    follow_ups = _run_with_follow_ups(tasks.contacts_deletion_sweep_task, connection.pk)

    # then: 47 ids listed over 3 pages (one per task), the 3 gone archived, nothing else
    run = SyncRun.objects.get(kind="deletion_sweep")
    assert run.status == "succeeded" and len(follow_ups) == 2
    assert _searches(ghl) == 3
    local = local_by_external_id(connection)
    assert {i for i, c in local.items() if c.is_archived} == set(gone)
    assert run.archived == 3
    assert "ids" not in run.cursor  # the listing is not kept once the sweep is done
    assert tasks.contacts_deletion_sweep_task(*follow_ups[-1]) == 0  # a redelivery does nothing
    assert _searches(ghl) == 3
