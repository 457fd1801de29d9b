"""One contact sync job of each kind per location at a time (`crm.sync.locks`)."""
import functools

from crm.sync.locks import sync_exclusive, sync_is_busy, sync_job_name

from ..models import GhlConnection
from .targets import PROVIDER


def location_job_name(connection: GhlConnection, kind: str) -> str:
    return sync_job_name(provider=PROVIDER, account_id=connection.location_id, kind=kind)


def location_job_busy(connection: GhlConnection, kind: str) -> bool:
    return sync_is_busy(location_job_name(connection, kind))


def one_per_location(kind: str):
    """Run the decorated ``fn(*, connection, ...)`` as the location's only job of ``kind``; `SyncBusy` at once
    (nothing done) while another runs."""
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*, connection: GhlConnection, **kwargs):
            with sync_exclusive(location_job_name(connection, kind)):
                return fn(connection=connection, **kwargs)
        return wrapper
    return decorator
