"""One writer of a calendar's bookings at a time: the booking commands, and the webhooks and reconciliation
that apply the calendar system's changes (so a webhook for our own booking waits for the booking to commit,
then finds it, instead of creating it a second time)."""
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connection

from .appointment_errors import AppointmentUnavailable

LOCK_TIMEOUT_MS = 15_000
_local_locks: dict[int, threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def calendar_booking_lock(calendar_id: int) -> Iterator[None]:
    """Inside a transaction: the one command on this calendar at a time (PostgreSQL transaction-level advisory
    lock, released at commit/rollback or when the worker's connection dies). Waits up to LOCK_TIMEOUT_MS."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{LOCK_TIMEOUT_MS}ms"])
            try:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x43414C, calendar_id])
            except OperationalError as exc:
                raise AppointmentUnavailable("The calendar is busy with other bookings; retry in a moment.") from exc
        yield
        return
    with _local_guard:
        lock = _local_locks.setdefault(calendar_id, threading.Lock())
    if not lock.acquire(timeout=LOCK_TIMEOUT_MS / 1000):
        raise AppointmentUnavailable("The calendar is busy with other bookings; retry in a moment.")
    try:
        yield
    finally:
        lock.release()


