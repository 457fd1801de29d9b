"""One sync job of a kind per account at a time (a pull, a reconciliation, a deletion sweep), across threads,
processes and hosts.

Two pulls of one location would spend its rate budget twice, write every page twice and show two progress
bars; they come from a double click on "Resync", from the connect flow's pull meeting a resync, or from a
broker redelivering a long task (``acks_late``) while the first worker still runs it.

PostgreSQL: a session-level advisory lock on the calling thread's connection, keyed by the job's name. It is
held exactly as long as the job runs: released when the job ends however it ends, and by PostgreSQL itself
when the worker dies (its connection closes), so a crashed job never blocks the next one and needs no lease
or timeout. Other databases (the SQLite development default): a lock within this process only.
"""
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

_local_guard = threading.Lock()
_local_held: set[str] = set()


class SyncBusy(Exception):
    """Another job of the same kind holds the account's lock."""

    def __init__(self, name: str):
        super().__init__(f"{name} is already running")
        self.name = name


def sync_job_name(*, provider: str, account_id: str, kind: str, object_type: str = "contact") -> str:
    """The lock's name, which `SyncBusy` shows to people: "contact initial_pull of ghl account <id>"."""
    return f"{object_type} {kind} of {provider} account {account_id}"


def _advisory_key(name: str) -> int:
    """A signed 64-bit key (what `pg_try_advisory_lock(bigint)` takes) from the name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _try_acquire(name: str) -> bool:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_key(name)])
            return cursor.fetchone()[0]
    with _local_guard:
        if name in _local_held:
            return False
        _local_held.add(name)
        return True


def _release(name: str) -> None:
    if connection.vendor != "postgresql":
        with _local_guard:
            _local_held.discard(name)
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_advisory_key(name)])
    except DatabaseError:
        # The lock belongs to the session: closing it releases the lock, where a pooled connection kept open
        # would hold it for as long as the worker lives.
        logger.warning("crm.sync.lock.release-failed", extra={"job": name}, exc_info=True)
        connection.close()


@contextmanager
def sync_exclusive(name: str) -> Iterator[None]:
    """Run the block as the only holder of ``name``; raises `SyncBusy` at once if another holds it."""
    if not _try_acquire(name):
        raise SyncBusy(name)
    try:
        yield
    finally:
        _release(name)


def sync_is_busy(name: str) -> bool:
    """Is a job holding ``name`` right now? (It may start or end the moment after.)"""
    if not _try_acquire(name):
        return True
    _release(name)
    return False
