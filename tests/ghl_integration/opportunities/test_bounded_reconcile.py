"""The opportunity reconciliation is bounded in time and hands over what is left (#19): follow-up tasks continue
the run from its cursor, every page read once, one run per location."""
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
