
import pytest
from django.db import connection

from crm.models import Contact, ExternalIdentity
from crm.services.contacts import contact_create
from crm.sync.inbound import RemoteRecord, contact_apply_remote
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.models import SyncRun
from crm.sync.outbox import outbox_claim_batch, outbox_mark_failed
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_resumable, sync_run_start
from crm.sync.selectors import sync_status_summary
from tests.concurrency import run_at_once

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db


def _start(org, **kw):
    return sync_run_start(organization=org, provider=PROVIDER, account_id=ACCOUNT, kind=SyncRun.Kind.INITIAL_PULL,
                          connection_id=1, **kw)


def test_a_pull_advances_page_by_page_and_resumes_after_a_crash(org):
    run = _start(org, total=3)
    page = contact_apply_remote_page(
        organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
        records=[RemoteRecord(f"e{i}", {"first_name": f"N{i}"}) for i in range(2)],
    )
    run = sync_run_advance(run=run, counts=page.counts, done=2, cursor={"searchAfter": [2, "e1"]})
    assert (run.created, run.progress_done, run.percent, run.cursor) == (2, 2, 66, {"searchAfter": [2, "e1"]})

    # the worker died: a new start with resume=True continues the same run from its cursor
    resumed = _start(org, resume=True)
    assert resumed.pk == run.pk and resumed.cursor == {"searchAfter": [2, "e1"]}
    sync_run_finish(run=resumed)
    assert sync_run_resumable(organization=org, provider=PROVIDER, account_id=ACCOUNT,
                              kind=SyncRun.Kind.INITIAL_PULL) is None
    assert _start(org, resume=True).pk != run.pk


def test_summary_for_the_settings_page(org, targets):
    old = _start(org)
    sync_run_finish(run=old, status=SyncRun.Status.FAILED, error="boom")
    latest = _start(org)
    reconcile = sync_run_start(organization=org, provider=PROVIDER, account_id=ACCOUNT, kind=SyncRun.Kind.RECONCILE)
    sync_run_start(organization=org, provider=PROVIDER, account_id=ACCOUNT, kind=SyncRun.Kind.RECONCILE,
                   object_type="opportunity")  # another kind's run, later: not the contacts' latest
    contact_create(organization=org, first_name="A")
    contact_create(organization=org, first_name="B")
    entry = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT, limit=1)[0]
    outbox_mark_failed(entry=entry, error="HTTP 500")

    [summary] = sync_status_summary(organization=org)

    assert summary["account_id"] == ACCOUNT and summary["runs"][SyncRun.Kind.INITIAL_PULL].pk == latest.pk
    assert set(summary["runs"]) == {SyncRun.Kind.INITIAL_PULL, SyncRun.Kind.RECONCILE}
    assert summary["runs"][SyncRun.Kind.RECONCILE].pk == reconcile.pk
    assert summary["outbox"] == {"pending": 1, "failed": 1, "dead": 0}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs real concurrent transactions")
def test_concurrent_applies_of_one_record_create_one_contact(org_factory):
    org = org_factory()

    errors = run_at_once(4, lambda: contact_apply_remote(
        organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
        external_id="same", remote={"email": "same@x.com", "first_name": "S"}))

    assert errors == []
    assert Contact.objects.count() == 1 and ExternalIdentity.objects.count() == 1
    assert connection.vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs real concurrent transactions")
def test_the_same_page_applied_twice_at_once_makes_no_duplicates(org_factory):
    org = org_factory()
    records = [RemoteRecord(f"e{i}", {"first_name": f"N{i}", "email": f"n{i}@x.com"}) for i in range(50)]

    errors = run_at_once(2, lambda: contact_apply_remote_page(
        organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1, records=records))

    assert errors == []
    assert Contact.objects.count() == 50 and ExternalIdentity.objects.count() == 50


def test_refusals_are_all_counted_and_the_first_fifty_kept(org):
    from crm.sync.runs import REFUSAL_SAMPLES

    run = _start(org)
    run = sync_run_advance(run=run, refusals={f"e{i}": f"phone: bad {i}" for i in range(30)})
    run = sync_run_advance(run=run, refusals={f"f{i}": "email: " + "x" * 900 for i in range(30)})
    run = sync_run_advance(run=run, refusals={})

    run.refresh_from_db()
    assert run.refused == 60
    assert len(run.refusal_samples) == REFUSAL_SAMPLES == 50
    assert run.refusal_samples[0] == {"external_id": "e0", "error": "phone: bad 0"}
    assert run.refusal_samples[-1]["external_id"] == "f19"
    assert max(len(s["error"]) for s in run.refusal_samples) == 500


def test_a_page_reports_values_the_mapping_refused(org):
    record = RemoteRecord("e1", {"first_name": "Ann"}, refused={"phone": "not a phone number"})
    page = contact_apply_remote_page(organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                     records=[record])
    assert page.counts["created"] == 1
    assert page.errors == {"e1": "phone: not a phone number"}
    # an unchanged record is not reported again on every reconciliation
    again = contact_apply_remote_page(organization=org, provider=PROVIDER, account_id=ACCOUNT, connection_id=1,
                                      records=[record])
    assert again.counts["unchanged"] == 1 and again.errors == {}
