"""Group commit for the receive path: requests that store at the same time in one process share one INSERT.

A commit costs a round trip and a WAL flush whatever it carries, and so does each doorbell ring; under a burst
several request threads of a web process are storing at once. The first of them to find no write in progress
becomes the *leader*: it takes every row waiting (its own first in line among them), writes them with one
multi-row ``INSERT … ON CONFLICT (dedup_key) DO NOTHING RETURNING`` in autocommit, hands each waiting request
its outcome, and rings the drain once for the batch. The others wait for their outcome; none of them answers
before the statement that carries its row has committed, so the acknowledgement still means "stored".

* A lone request is its own leader and writes at once: no added latency, the same one statement as before.
* Database trouble fails every row of the statement (each request then spools, or answers 429). An error that
  is about the data rather than the database (not an ``OperationalError``/``InterfaceError``) is retried row by
  row, so one row the database refuses never sends the others to the spool.
* A request that has waited ``wait_seconds`` without an outcome (a leader stuck on a hung database) gives up with
  ``StoreTimeout``, a ``DatabaseError``, and spools: if its row did commit after all, the spool drain's dedup
  INSERT finds it, so it is stored once either way.

Only for autocommit callers: inside a transaction a row must commit with its caller's other writes, so
`services.webhook_event_store` writes it alone there.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, InterfaceError, OperationalError

logger = logging.getLogger(__name__)


class StoreTimeout(DatabaseError):
    """No outcome in time: the row may or may not be stored (the spool's dedup makes that harmless)."""


@dataclass(eq=False)
class PendingRow:
    params: tuple  # the row's values, in the INSERT's column order
    dedup_key: str
    wake: threading.Event = field(default_factory=threading.Event)  # outcome ready, or "your turn to lead"
    done: bool = False
    event_id: int | None = None  # None with done and no error: a duplicate
    error: BaseException | None = None

    @property
    def duplicate(self) -> bool:
        return self.done and self.error is None and self.event_id is None


# Writes the rows with one statement; returns (id, dedup_key) of each row it inserted. Raises DatabaseError.
InsertMany = Callable[[list[PendingRow]], list[tuple[int, str]]]


@dataclass(frozen=True)
class GroupCommitTuning:
    #: Rows per statement at most (a burst beyond it is written by successive statements).
    max_batch: int = 64
    #: How often a waiting request looks again whether it should lead (a hand-over wakes it before that).
    poll_seconds: float = 0.005
    #: How long a request waits for its outcome before it spools instead.
    wait_seconds: float = 10.0


class GroupCommit:
    """One per web process (`services.INBOX_GROUP`): a queue of rows and the right to write them."""

    def __init__(self, tuning: GroupCommitTuning | None = None):
        self.tuning = tuning or GroupCommitTuning()
        self._queue_lock = threading.Lock()
        self._writing = threading.Lock()
        self._pending: list[PendingRow] = []

    def store(self, row: PendingRow, *, insert_many: InsertMany, after_insert: Callable[[], None]) -> PendingRow:
        """Write `row` (in whichever batch carries it) and return it with its outcome set; raises the
        DatabaseError of its batch, or StoreTimeout. `after_insert` runs once per batch that inserted rows,
        after every row of the batch has its outcome (the doorbell)."""
        with self._queue_lock:
            self._pending.append(row)
        deadline = time.monotonic() + self.tuning.wait_seconds
        while not row.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._withdraw(row)
                if not row.done:
                    raise StoreTimeout("no outcome for the webhook row in time")
                break
            if self._writing.acquire(blocking=False):
                inserted = False
                try:
                    while not row.done:
                        wrote, batch_inserted = self._write_one_batch(insert_many)
                        inserted |= batch_inserted
                        if not wrote:
                            break
                finally:
                    self._writing.release()
                    self._wake_next()
                if inserted:
                    _quietly(after_insert)
                continue
            row.wake.wait(min(self.tuning.poll_seconds, remaining))
            row.wake.clear()
        if row.error is not None:
            raise row.error
        return row

    def _write_one_batch(self, insert_many: InsertMany) -> tuple[bool, bool]:
        """(wrote a batch, inserted at least one row)."""
        with self._queue_lock:
            batch = self._pending[: self.tuning.max_batch]
            del self._pending[: len(batch)]
        if not batch:
            return False, False
        try:
            inserted = _insert_with_fallback(batch, insert_many)
        except Exception as exc:  # a bug: every owner raises it (the view answers 429, so GHL delivers again)
            for row in batch:
                row.error, row.event_id = exc, None
            inserted = False
        for row in batch:
            row.done = True
            row.wake.set()
        return True, inserted

    def _wake_next(self) -> None:
        with self._queue_lock:
            head = self._pending[0] if self._pending else None
        if head is not None:
            head.wake.set()  # its owner leads the next batch without waiting for its poll

    def _withdraw(self, row: PendingRow) -> None:
        with self._queue_lock:
            if row in self._pending:
                self._pending.remove(row)


def _insert_with_fallback(batch: list[PendingRow], insert_many: InsertMany) -> bool:
    """Set each row's outcome; True when at least one row was inserted."""
    try:
        _apply(batch, insert_many(batch))
    except (OperationalError, InterfaceError) as exc:  # the database itself: every row shares the fate
        for row in batch:
            row.error = exc
        return False
    except DatabaseError as exc:
        if len(batch) == 1:
            batch[0].error = exc
            return False
        logger.warning("ghl.webhook.batch-insert-failed", extra={"rows": len(batch), "error": type(exc).__name__})
        for row in batch:  # a row the database refuses must not take the others to the spool
            _insert_with_fallback([row], insert_many)
    return any(row.event_id is not None for row in batch)


def _apply(batch: list[PendingRow], returned: list[tuple[int, str]]) -> None:
    ids = {dedup_key: event_id for event_id, dedup_key in returned}
    for row in batch:
        # Two deliveries of one event in one statement: ON CONFLICT stored one of them; the other is the duplicate.
        row.event_id = ids.pop(row.dedup_key, None)


def _quietly(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # the rows are committed, which is what the acknowledgements promise
        logger.warning("ghl.webhook.after-insert-failed", exc_info=True)
