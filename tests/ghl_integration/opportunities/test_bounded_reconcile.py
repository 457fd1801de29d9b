"""The opportunity reconciliation, pull and deletion sweep are bounded in time and hand over what is left (#19):
follow-up tasks continue the run from its cursor, every page read once, one run per location."""
from unittest import mock

import pytest

from crm.models import Opportunity
from crm.selectors.external_ids import local_object_for_external_id
from crm.sync.models import SyncRun
from ghl_integration.opportunities import sync as sync_module
from ghl_integration.opportunities import tasks
from ghl_integration.opportunities.sync import opportunities_pull

from .conftest import LOCATION, make_deal

pytestmark = pytest.mark.django_db


def _searches(ghl) -> int:
    return len(ghl.control.request_log(method="POST", path="/opportunities/search"))


def _listings(ghl) -> int:
    return len(ghl.control.request_log(method="GET", path="/opportunities/search"))


def _run_with_follow_ups(task, connection_id: int) -> list[tuple]:
    """Run ``task`` as a worker would, then each follow-up it queues; returns the follow-ups' arguments."""
    queued: list[tuple] = []
    with mock.patch.object(task, "apply_async", side_effect=lambda args: queued.append(tuple(args))):
        task(connection_id)
        for args in queued:  # grows while the follow-ups run
            task(*args)
    return queued


def _local(deal: dict) -> Opportunity:
    return local_object_for_external_id(model=Opportunity, provider="ghl", account_id=LOCATION, external_id=deal["id"])


def test_a_reconciliation_out_of_time_hands_over_and_the_follow_ups_finish_it_once(
        ghl, org, connection, monkeypatch):
    # given: 7 deals pulled, then won in GHL without a webhook; pages of 2 and every task out of time at once
    deals = [make_deal(ghl, name=f"Deal {i}", contact=i) for i in range(7)]
    opportunities_pull(connection=connection)
    for deal in deals:
        ghl.control.change("opportunity.update", opportunityId=deal["id"], status="won")
    monkeypatch.setattr(sync_module, "RECONCILE_BUDGET_SECONDS", 0)
    monkeypatch.setattr(sync_module, "PAGE_SIZE", 2)
    ghl.control.clear_request_log()

    # when: the task, then each follow-up it queues, as workers would
    queued: list[tuple] = []
    task = tasks.opportunities_reconcile_task
    with mock.patch.object(task, "apply_async", side_effect=lambda args: queued.append(tuple(args))):
        task(connection.pk)
        for args in queued:
            task(*args)

    # then: one run, 4 pages (2, 2, 2, 1) read once each, one per task, every deal won here
    run = SyncRun.objects.get(object_type="opportunity", kind="reconcile")
    assert run.status == "succeeded"
    assert len(queued) == 3 and [number for *_, number in queued] == [1, 2, 3]
    assert _searches(ghl) == 4
    assert run.progress_done == 7 and run.updated == 7
    assert {local_object_for_external_id(model=Opportunity, provider="ghl", account_id=LOCATION,
                                         external_id=d["id"]).status for d in deals} == {"won"}
    assert run.cursor["requests"] >= 4

    # and: a redelivered follow-up does nothing
    assert task(*queued[0]) == "superseded"
    assert _searches(ghl) == 4
    assert SyncRun.objects.filter(object_type="opportunity", kind="reconcile").count() == 1


def test_a_pull_out_of_time_hands_over_and_the_follow_ups_finish_it_once(ghl, org, connection, monkeypatch):
    # given: 5 deals in GHL, listed 2 a page, every task out of time after one page
    deals = [make_deal(ghl, name=f"Deal {i}", contact=i) for i in range(5)]
    monkeypatch.setattr(sync_module, "RECONCILE_BUDGET_SECONDS", 0)
    monkeypatch.setattr(sync_module, "PAGE_SIZE", 2)
    ghl.control.clear_request_log()

    # when
    follow_ups = _run_with_follow_ups(tasks.opportunities_pull_task, connection.pk)

    # then: one pull, the pages (2, 2, 1) read once each, one per task, every deal here once
    run = SyncRun.objects.get(object_type="opportunity", kind="initial_pull")
    assert run.status == "succeeded" and run.cursor["since"]
    assert [number for *_, number in follow_ups] == [1, 2]
    assert _listings(ghl) == 3 and run.progress_done == 5 and run.created == 5
    assert {_local(d).name for d in deals} == {f"Deal {i}" for i in range(5)}
    assert Opportunity.objects.count() == 5

    # and: a redelivered follow-up does nothing; the reconciliation then starts from the pull's time
    assert tasks.opportunities_pull_task(*follow_ups[0]) == "superseded"
    assert _listings(ghl) == 3
    monkeypatch.setattr(sync_module, "RECONCILE_BUDGET_SECONDS", 50)
    assert tasks.opportunities_reconcile_task(connection.pk) == "succeeded"
    assert SyncRun.objects.filter(object_type="opportunity", kind="initial_pull").count() == 1


def test_a_deletion_sweep_out_of_time_hands_over_its_listing_and_archives_exactly_the_gone(
        ghl, org, connection, monkeypatch):
    # given: 6 deals pulled, 2 deleted in GHL without a webhook; listed 2 a page, out of time after each page
    deals = [make_deal(ghl, name=f"Deal {i}", contact=i) for i in range(6)]
    opportunities_pull(connection=connection)
    ghl.control.webhooks(urls=[])
    gone = deals[1:3]
    for deal in gone:
        ghl.control.change("opportunity.delete", opportunityId=deal["id"])
    monkeypatch.setattr(sync_module, "RECONCILE_BUDGET_SECONDS", 0)
    monkeypatch.setattr(sync_module, "PAGE_SIZE", 2)
    ghl.control.clear_request_log()

    # when
    follow_ups = _run_with_follow_ups(tasks.opportunities_deletion_sweep_task, connection.pk)

    # then: the 4 left listed over 2 pages, one per task; exactly the 2 gone archived
    run = SyncRun.objects.get(object_type="opportunity", kind="deletion_sweep")
    assert run.status == "succeeded" and len(follow_ups) == 1
    assert _listings(ghl) == 2
    assert {d["id"] for d in deals if _local(d).is_archived} == {d["id"] for d in gone}
    assert run.archived == 2 and "ids" not in run.cursor
    assert tasks.opportunities_deletion_sweep_task(*follow_ups[0]) == "superseded"
    assert _listings(ghl) == 2
