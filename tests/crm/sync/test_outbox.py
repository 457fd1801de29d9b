import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crm.models import Contact
from crm.services.contacts import contact_archive, contact_create, contact_tags_add, contact_update
from crm.sync.models import OutboxEntry
from crm.sync.origin import current_origin, sync_origin
from crm.sync.outbox import (
    MAX_PUSH_ATTEMPTS,
    backoff_seconds,
    outbox_claim_batch,
    outbox_mark_done,
    outbox_mark_failed,
)
from tests.concurrency import rows_locked_elsewhere, run_at_once

from .conftest import ACCOUNT, PROVIDER

pytestmark = pytest.mark.django_db
Status = OutboxEntry.Status


def test_no_resolver_means_no_outbox_rows(org):
    contact_create(organization=org, first_name="Ann")
    assert OutboxEntry.objects.count() == 0


def test_create_records_one_entry_per_target(org, targets):
    targets["list"] = [(PROVIDER, ACCOUNT), (PROVIDER, "loc2")]
    contact = contact_create(organization=org, first_name="Ann", email="ann@example.com")
    entries = OutboxEntry.objects.filter(object_id=contact.pk)
    assert sorted(e.account_id for e in entries) == [ACCOUNT, "loc2"]
    assert {"email", "first_name", "full_name"} <= set(entries[0].changed_fields)


def test_rollback_leaves_no_entry(org, targets):
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_create(organization=org, first_name="Ann")
        raise RuntimeError("boom")
    assert Contact.objects.count() == 0
    assert OutboxEntry.objects.count() == 0


def test_burst_of_edits_coalesces_into_one_entry(org, targets):
    contact = contact_create(organization=org, first_name="Ann")
    contact_update(contact=contact, email="ann@example.com")
    contact_tags_add(contact=contact, tags=["vip"])
    contact_update(contact=contact, company_name="Acme")
    contact_update(contact=contact, company_name="Acme")  # no change: nothing recorded
    entry = OutboxEntry.objects.get()
    assert entry.change_count == 4
    assert {"email", "tags", "company_name", "first_name"} <= set(entry.changed_fields)


def test_edit_during_push_opens_a_new_entry_pushed_after(org, targets):
    contact = contact_create(organization=org, first_name="Ann")
    [claimed] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    contact_update(contact=contact, last_name="Lee")
    assert OutboxEntry.objects.filter(status=Status.PENDING).count() == 1
    # the newer entry waits while the older one is under a live lease
    assert outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT) == []
    outbox_mark_done(entry=claimed, remote_id="ext-1")
    [second] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    assert second.id > claimed.id and second.changed_fields == ["full_name", "last_name"]


def test_archive_is_recorded(org, targets):
    contact = contact_create(organization=org, first_name="Ann")
    OutboxEntry.objects.update(status=Status.DONE)
    contact_archive(contact=contact)
    assert OutboxEntry.objects.get(status=Status.PENDING).changed_fields == ["is_archived"]


def test_no_entry_back_to_the_origin_account(org, targets):
    targets["list"] = [(PROVIDER, ACCOUNT), (PROVIDER, "loc2")]
    with sync_origin(provider=PROVIDER, account_id=ACCOUNT, connection_id=7):
        assert current_origin().connection_id == 7
        contact_create(organization=org, first_name="From GHL")
    assert current_origin() is None
    assert list(OutboxEntry.objects.values_list("account_id", flat=True)) == ["loc2"]


def test_mark_done_links_and_stores_the_pushed_hash(org, targets):
    contact = contact_create(organization=org, first_name="Ann")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    outbox_mark_done(entry=entry, remote_id="ext-1", remote_values={"first_name": "Ann"})
    link = contact_link(contact)
    assert link.external_id == "ext-1" and link.content_hash and link.synced_snapshot == {"first_name": "Ann"}
    entry.refresh_from_db()
    assert entry.status == Status.DONE and entry.claimed_until is None


def contact_link(contact):
    from crm.models import ExternalIdentity

    return ExternalIdentity.objects.get(object_id=contact.pk, account_id=ACCOUNT)


def test_expired_lease_is_reclaimed(org, targets):
    contact_create(organization=org, first_name="Ann")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT, lease_seconds=60)
    assert outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT) == []
    # the worker died: its lease runs out
    OutboxEntry.objects.filter(pk=entry.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    [again] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    assert again.pk == entry.pk and again.attempts == 2


def test_failure_backs_off_then_dies(org, targets):
    contact_create(organization=org, first_name="Ann")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    before = timezone.now()
    entry = outbox_mark_failed(entry=entry, error="HTTP 503")
    assert entry.status == Status.FAILED and entry.last_error == "HTTP 503"
    assert entry.next_attempt_at >= before + timedelta(seconds=backoff_seconds(1))
    assert outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT) == []  # not due yet
    assert backoff_seconds(2) == 2 * backoff_seconds(1)
    for _ in range(MAX_PUSH_ATTEMPTS - 1):
        OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
        [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
        entry = outbox_mark_failed(entry=entry, error="HTTP 503")
    assert entry.status == Status.DEAD and entry.attempts == MAX_PUSH_ATTEMPTS


def test_non_retryable_failure_is_dead_at_once(org, targets):
    contact_create(organization=org, first_name="Ann")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    assert outbox_mark_failed(entry=entry, error="HTTP 422", retryable=False).status == Status.DEAD


def test_edit_during_a_failing_push_merges_into_the_newer_entry(org, targets):
    contact = contact_create(organization=org, first_name="Ann")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    contact_update(contact=contact, last_name="Lee")
    assert outbox_mark_failed(entry=entry, error="timeout").status == Status.SUPERSEDED
    newer = OutboxEntry.objects.get(status=Status.PENDING)
    assert {"first_name", "last_name"} <= set(newer.changed_fields)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SKIP LOCKED needs PostgreSQL")
def test_concurrent_workers_never_claim_the_same_entry(org_factory, targets):
    org = org_factory()
    for i in range(40):
        contact_create(organization=org, first_name=f"C{i}")
    claims: list[int] = []
    lock = threading.Lock()

    def claim_until_empty():
        while batch := outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT, limit=3):
            with lock:
                claims.extend(e.pk for e in batch)

    assert run_at_once(4, claim_until_empty) == []
    assert len(claims) == 40 and len(set(claims)) == 40


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SKIP LOCKED needs PostgreSQL")
def test_claim_skips_rows_locked_by_another_worker(org_factory, targets):
    org = org_factory()
    for i in range(4):
        contact_create(organization=org, first_name=f"C{i}")
    ids = list(OutboxEntry.objects.order_by("id").values_list("id", flat=True))
    with rows_locked_elsewhere(OutboxEntry.objects.filter(pk__in=ids[:2])):
        claimed = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT, limit=10)
    assert [e.pk for e in claimed] == ids[2:]
    assert connection.vendor == "postgresql"


def test_staff_can_retry_a_dead_entry(org, targets, admin_client):
    contact_create(organization=org, first_name="Ann")
    [entry] = outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)
    outbox_mark_failed(entry=entry, error="HTTP 422", retryable=False)
    response = admin_client.post("/admin/crm/outboxentry/", {"action": "retry_now", "_selected_action": [entry.pk]})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == Status.PENDING and entry.last_error == "HTTP 422"
    assert outbox_claim_batch(provider=PROVIDER, account_id=ACCOUNT)[0].pk == entry.pk
