"""Group commit on the receive path: requests storing at once share one INSERT, and nothing is acknowledged
before its row is committed; the bell ringer rings once for many rows, always after their commit."""

import threading
import time
from unittest import mock

import pytest
from django.db import DatabaseError, DataError, OperationalError, connection

from ghl_integration.models import WebhookEvent
from ghl_integration.webhooks import doorbell, services
from ghl_integration.webhooks.group_commit import GroupCommit, GroupCommitTuning, PendingRow, StoreTimeout

from .conftest import compact, fresh, load_example, sign_ed25519

S = WebhookEvent.Status


def _rows(*keys: str) -> list[PendingRow]:
    return [PendingRow(params=(key,), dedup_key=key) for key in keys]


def _store_all(group: GroupCommit, rows: list[PendingRow], insert_many, after_insert=lambda: None) -> dict:
    """Store each row from its own thread while a write is in progress, then let the write finish."""
    outcomes: dict = {}

    def store(row):
        try:
            outcomes[row.dedup_key] = group.store(row, insert_many=insert_many, after_insert=after_insert)
        except Exception as exc:  # noqa: BLE001 - the test looks at what each caller got
            outcomes[row.dedup_key] = exc

    group._writing.acquire()  # as if another request's statement were running
    threads = [threading.Thread(target=store, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(group._pending) == len(rows))
    group._writing.release()
    for thread in threads:
        thread.join(10)
    return outcomes


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


class FakeTable:
    def __init__(self, existing=(), fail=None):
        self.keys = dict.fromkeys(existing, 0)
        self.statements: list[list[str]] = []
        self.fail = fail

    def insert_many(self, rows):
        keys = [row.dedup_key for row in rows]
        self.statements.append(keys)
        if self.fail:
            self.fail(keys)
        returned = []
        for key in keys:
            if key not in self.keys:
                self.keys[key] = len(self.keys) + 1
                returned.append((self.keys[key], key))
        return returned


def test_rows_waiting_together_share_one_statement_and_each_gets_its_own_outcome():
    table = FakeTable(existing=["old"])
    rings = []

    outcomes = _store_all(GroupCommit(), _rows("a", "b", "old", "c"), table.insert_many, lambda: rings.append(1))

    assert len(table.statements) == 1 and sorted(table.statements[0]) == ["a", "b", "c", "old"]
    assert {key: row.event_id for key, row in outcomes.items()} == {
        "a": table.keys["a"], "b": table.keys["b"], "c": table.keys["c"], "old": None
    }
    assert outcomes["old"].duplicate and not outcomes["a"].duplicate
    assert rings == [1]  # one ring for the batch, by its leader


def test_the_same_event_twice_in_one_statement_is_stored_once_and_the_other_is_the_duplicate():
    group = GroupCommit()
    rows = [PendingRow(params=("k",), dedup_key="k"), PendingRow(params=("k",), dedup_key="k")]
    table = FakeTable()
    results = []
    group._writing.acquire()
    threads = [threading.Thread(target=lambda r=row: results.append(group.store(
        r, insert_many=table.insert_many, after_insert=lambda: None))) for row in rows]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(group._pending) == 2)
    group._writing.release()
    for thread in threads:
        thread.join(10)

    assert sorted(row.duplicate for row in results) == [False, True]
    assert [row.event_id for row in results if not row.duplicate] == [1]


def test_a_lone_row_is_written_at_once_by_its_own_request():
    table = FakeTable()
    row = GroupCommit().store(_rows("a")[0], insert_many=table.insert_many, after_insert=lambda: None)
    assert row.event_id == 1 and table.statements == [["a"]]


def test_a_burst_larger_than_a_statement_is_written_in_several():
    table = FakeTable()
    outcomes = _store_all(GroupCommit(GroupCommitTuning(max_batch=3)), _rows(*"abcdefg"), table.insert_many)
    assert sorted(len(keys) for keys in table.statements) == [1, 3, 3]
    assert all(row.event_id for row in outcomes.values())


def test_database_trouble_fails_every_row_of_the_statement():
    def down(keys):
        raise OperationalError("server closed the connection unexpectedly")

    rings = []
    outcomes = _store_all(GroupCommit(), _rows("a", "b", "c"), FakeTable(fail=down).insert_many,
                          lambda: rings.append(1))

    assert all(isinstance(outcome, OperationalError) for outcome in outcomes.values())
    assert rings == []


def test_a_row_the_database_refuses_does_not_send_the_others_to_the_spool():
    def refuse_b(keys):
        if "b" in keys:
            raise DataError("invalid byte sequence")

    table = FakeTable(fail=refuse_b)
    outcomes = _store_all(GroupCommit(), _rows("a", "b", "c"), table.insert_many)

    assert isinstance(outcomes["b"], DataError)
    assert outcomes["a"].event_id and outcomes["c"].event_id
    assert sorted(table.keys) == ["a", "c"]


def test_a_bug_in_the_statement_reaches_every_caller_instead_of_leaving_them_waiting():
    def bug(keys):
        raise TypeError("not a row")

    outcomes = _store_all(GroupCommit(), _rows("a", "b"), FakeTable(fail=bug).insert_many)
    assert all(isinstance(outcome, TypeError) for outcome in outcomes.values())


def test_a_request_whose_write_hangs_gives_up_and_its_row_is_not_written_later():
    group = GroupCommit(GroupCommitTuning(wait_seconds=0.2))
    table = FakeTable()
    group._writing.acquire()  # a leader stuck on a hung database
    try:
        with pytest.raises(StoreTimeout):
            group.store(_rows("a")[0], insert_many=table.insert_many, after_insert=lambda: None)
    finally:
        group._writing.release()
    assert group._pending == []
    assert issubclass(StoreTimeout, DatabaseError)  # so the caller spools it


# The real thing: threads delivering to the endpoint's service at once, on PostgreSQL, outside a transaction.

def _receive_concurrently(payloads: list[dict], *, wrapper=None) -> list:
    bodies = [compact(payload) for payload in payloads]
    results: list = [None] * len(bodies)
    group = services.INBOX_GROUP

    def receive(index):
        try:
            if wrapper is None:
                results[index] = services.webhook_receive(
                    body=bodies[index], headers={"x-ghl-signature": sign_ed25519(bodies[index])})
            else:
                with connection.execute_wrapper(wrapper):  # on this thread's connection, whichever leads
                    results[index] = services.webhook_receive(
                        body=bodies[index], headers={"x-ghl-signature": sign_ed25519(bodies[index])})
        finally:
            connection.close()

    group._writing.acquire()
    threads = [threading.Thread(target=receive, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(group._pending) == len(bodies))
    group._writing.release()
    for thread in threads:
        thread.join(20)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_are_stored_once_each_and_acknowledged_with_their_ids(broker):
    payloads = [fresh(load_example("NoteCreate.json")) for _ in range(5)]
    payloads.append(dict(payloads[0]))  # GHL delivering the first one twice at once
    statements = []
    real = services._insert_rows

    def counting(rows):
        statements.append(len(rows))
        return real(rows)

    with mock.patch.object(services, "_insert_rows", counting):
        results = _receive_concurrently(payloads)

    assert statements == [6]
    assert sorted(r.data["status"] for r in results) == ["accepted"] * 5 + ["duplicate"]
    stored = {e.pk: e for e in WebhookEvent.objects.all()}
    assert sorted(r.data["id"] for r in results if r.data["status"] == "accepted") == sorted(stored)
    assert {e.webhook_id for e in stored.values()} == {p["webhookId"] for p in payloads}
    _wait_until(lambda: broker.drains)  # the bell ringer asked for a drain, after the commit
    assert broker.run_all() == [S.IGNORED] * 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_during_an_outage_are_all_spooled_and_none_acknowledged_as_stored(broker, spool_dir):
    from ghl_integration.webhooks import spool

    def refuse(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and "webhookevent" in sql.lower():
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    results = _receive_concurrently([fresh(load_example("NoteCreate.json")) for _ in range(4)], wrapper=refuse)

    assert [r.data for r in results] == [{"status": "spooled"}] * 4
    assert len(spool.spool_pending()) == 4
    assert not WebhookEvent.objects.exists()


class TestBellRinger:
    def test_a_request_rings_at_once(self):
        rings = []
        ringer = doorbell.BellRinger(lambda: rings.append(time.monotonic()), min_interval=0.05)
        asked = time.monotonic()
        ringer.request()
        _wait_until(lambda: rings)
        assert rings[0] - asked < 0.5 and len(rings) == 1

    def test_requests_during_a_ring_get_one_more_ring_that_starts_after_them(self):
        in_ring, release = threading.Event(), threading.Event()
        starts = []

        def slow_ring():
            starts.append(time.monotonic())
            if len(starts) == 1:
                in_ring.set()
                release.wait(5)

        ringer = doorbell.BellRinger(slow_ring, min_interval=0)
        ringer.request()
        in_ring.wait(5)
        asked = time.monotonic()
        for _ in range(20):  # rows committed while the first ring was out
            ringer.request()
        release.set()
        _wait_until(lambda: len(starts) == 2)
        time.sleep(0.1)
        assert len(starts) == 2 and starts[1] >= asked

    def test_a_burst_of_requests_is_rung_a_few_times_spaced_apart(self):
        rings = []
        ringer = doorbell.BellRinger(lambda: rings.append(time.monotonic()), min_interval=0.1)
        started = time.monotonic()
        while time.monotonic() - started < 0.35:
            ringer.request()
            time.sleep(0.001)
        time.sleep(0.15)
        assert 2 <= len(rings) <= 6
        assert all(b - a >= 0.095 for a, b in zip(rings, rings[1:], strict=False))

    def test_a_failing_ring_does_not_stop_the_ringer(self):
        calls = []

        def ring():
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("redis down")

        ringer = doorbell.BellRinger(ring, min_interval=0)
        ringer.request()
        _wait_until(lambda: calls)
        time.sleep(0.02)
        ringer.request()
        _wait_until(lambda: len(calls) == 2)

    def test_a_pending_ring_is_rung_at_exit(self):
        rings = []
        ringer = doorbell.BellRinger(lambda: rings.append(1), min_interval=60)
        ringer.request()
        _wait_until(lambda: rings)
        ringer.request()  # waits out the interval …
        ringer.flush()  # … unless the process exits first
        assert len(rings) == 2


# The group commit's statement goes straight to psycopg (server-side binding); Django's error translation must
# still apply, or a lost database would look like a bug (429) instead of spooling.

# The receive path sends its INSERT straight to psycopg on PostgreSQL only; elsewhere it goes through the ORM.
needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="the direct statement is PostgreSQL's")


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_the_statement_sent_directly_stores_the_row_as_the_orm_reads_it(broker):
    payload = fresh(load_example("ContactCreate.json"))
    body = compact(payload)

    with mock.patch.object(services, "_insert_direct", wraps=services._insert_direct) as direct:
        result = services.webhook_receive(body=body, headers={"x-ghl-signature": sign_ed25519(body),
                                                              "user-agent": "GHL-Webhooks/1.0"})

    assert direct.call_count == 1
    assert result.data == {"status": "accepted", "id": WebhookEvent.objects.get().pk}
    event = WebhookEvent.objects.get()
    assert event.body == body.decode() and event.headers["user-agent"] == "GHL-Webhooks/1.0"
    assert event.status == S.RECEIVED and event.webhook_id == payload["webhookId"]
    assert event.delivered_at is not None and event.received_at is not None


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_under_the_direct_statement_spools_the_event(broker, spool_dir):
    import psycopg

    from ghl_integration.webhooks import spool

    body = compact(fresh(load_example("NoteCreate.json")))
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    admin = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in admin.items() if k in ("host", "port", "user", "password", "dbname")},
                         autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (backend,))  # the database drops this connection

    try:
        with mock.patch.object(services, "_insert_direct", wraps=services._insert_direct) as direct:
            result = services.webhook_receive(body=body, headers={"x-ghl-signature": sign_ed25519(body)})
    finally:
        connection.close()

    assert direct.call_count == 1
    assert result.data == {"status": "spooled"}
    assert len(spool.spool_pending()) == 1
    assert not WebhookEvent.objects.exists()
