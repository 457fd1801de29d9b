"""Helpers for tests of concurrent database work (real transactions, so PostgreSQL with transaction=True)."""

import contextlib
import threading


def run_at_once(threads: int, work) -> list[BaseException]:
    """Run ``work()`` in ``threads`` threads released together; returns what they raised. Each thread closes
    its own database connection."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker():
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            work()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            thread_connection.close()

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return errors


@contextlib.contextmanager
def rows_locked_elsewhere(queryset):
    """Hold ``SELECT … FOR UPDATE`` locks on ``queryset``'s rows in another transaction for the block's length."""
    from django.db import transaction

    locked, release = threading.Event(), threading.Event()

    def holder():
        from django.db import connection as thread_connection

        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                locked.set()
                release.wait(10)
        finally:
            thread_connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(10), "the other transaction did not take its locks"
    try:
        yield
    finally:
        release.set()
        thread.join()
