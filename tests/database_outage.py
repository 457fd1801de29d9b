"""A database outage for tests: every statement from this process raises as a lost connection would."""
import contextlib
from unittest import mock

from django.db import OperationalError
from django.db.backends import utils


class Outage:
    def __init__(self):
        self.down = False
        self.refused = 0

    def __enter__(self):
        self.down = True
        return self

    def __exit__(self, *exc):
        self.down = False
        return False


@contextlib.contextmanager
def database_outage_possible():
    """Yields an `Outage`: ``with outage:`` makes every query fail with ``OperationalError`` until the block ends
    (code under test may catch the error and go on, as it would against a server that went away)."""
    outage = Outage()
    real_execute, real_executemany = utils.CursorWrapper.execute, utils.CursorWrapper.executemany

    def guard():
        if outage.down:
            outage.refused += 1
            raise OperationalError("server closed the connection unexpectedly (test outage)")

    def execute(self, *args, **kwargs):
        guard()
        return real_execute(self, *args, **kwargs)

    def executemany(self, *args, **kwargs):
        guard()
        return real_executemany(self, *args, **kwargs)

    with mock.patch.object(utils.CursorWrapper, "execute", execute), \
            mock.patch.object(utils.CursorWrapper, "executemany", executemany):
        yield outage
