"""Initial pull (and resync) of every GHL contact of a location, page by page, resumable.

One `SyncRun` (kind ``initial_pull``) per pull. Pages come from ``POST /contacts/search`` in its default
order (``dateAdded``) with ``searchAfter``; after each page is applied (bulk, one transaction) the run's
cursor becomes that page's last ``searchAfter``, so a crashed pull resumes at the next page and re-applying
a page is harmless (the apply is idempotent). ``progress_total`` is GHL's ``total``.

GHL's rate limit (100 requests / 10 s per location), not our writes, should set the pace: the next page is
fetched on a helper thread while the current page is written. The helper thread never touches the
database: the main thread asks the token provider for a token before each fetch (which also notices a
disconnect: `ConnectionInactive` stops the pull, run marked cancelled, every applied page kept).
"""
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from crm.sync.inbound_page import contact_apply_remote_page
from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start

from ..client import GhlClient
from ..models import GhlConnection
from ..services.connections import ConnectionInactive, connection_token_provider
from .contacts_inbound import records_from_search_page
from .mapping import PROVIDER, contact_mapping_ensure_defaults, contact_mapping_for
from .runs import sync_run_reset_progress

logger = logging.getLogger(__name__)

PULL_PAGE_SIZE = 100  # GHL accepts up to 500; 100 keeps each page's transaction short


class _RefreshInMainThread(Exception):
    """The helper thread needs a forced token refresh, which touches the database: redo it in the main thread."""


class _TokenRelay:
    """Token provider for the helper thread: hands out the token the main thread fetched last."""

    def __init__(self, provide: Callable[..., str]):
        self.provide = provide
        self.token: str | None = None
        self.main_thread = threading.get_ident()

    def refresh(self) -> None:
        self.token = self.provide()

    def __call__(self, force_refresh: bool = False) -> str:
        if force_refresh or self.token is None:
            if threading.get_ident() != self.main_thread:
                raise _RefreshInMainThread()
            self.token = self.provide(force_refresh)
        return self.token


@dataclass
class PullResult:
    run: SyncRun
    pages: int = 0
    requests: int = 0


def contacts_initial_pull(
    *,
    connection: GhlConnection,
    resume: bool = False,
    page_size: int = PULL_PAGE_SIZE,
    on_page: Callable[[SyncRun], None] | None = None,
    prefetch: bool = True,
) -> PullResult:
    """Pull every contact of the connection's location into the CRM. ``resume`` continues the last unfinished
    pull from its cursor. ``on_page(run)`` is called after each applied page (progress bars, tests).
    Returns when done; the run is ``succeeded``, ``cancelled`` (connection gone) or ``failed`` (re-raised)."""
    relay = _TokenRelay(connection_token_provider(connection.pk))
    run = sync_run_start(organization=connection.organization, provider=PROVIDER,
                         account_id=connection.location_id, kind=SyncRun.Kind.INITIAL_PULL,
                         connection_id=connection.pk, resume=resume)
    result = PullResult(run=run)
    logger.info("ghl.sync.pull.start", extra={"run_id": run.pk, "connection_id": connection.pk,
                                               "resume_cursor": run.cursor})
    client = GhlClient(location_id=connection.location_id, token_provider=relay)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghl-pull") if prefetch else None
    try:
        relay.refresh()  # ConnectionInactive here: nothing started
        contact_mapping_ensure_defaults(connection=connection, client=client)
        mapping = contact_mapping_for(connection)
        # No cursor: a new run, or one that crashed on its first or last page; both start over (idempotent).
        cursor = (run.cursor or {}).get("searchAfter")
        if cursor is None and run.progress_done:
            run = sync_run_reset_progress(run=run)
        future = _submit(pool, relay, client, cursor, page_size)
        while True:
            page = _result(future, relay, client, cursor, page_size)
            result.requests += 1
            contacts = page.get("contacts") or []
            next_cursor = contacts[-1].get("searchAfter") if contacts else None
            last_page = len(contacts) < page_size or not next_cursor
            future = None
            if not last_page:
                relay.refresh()  # also the disconnect check, once per page
                future = _submit(pool, relay, client, next_cursor, page_size)
            records = records_from_search_page(mapping, contacts)
            page_result = contact_apply_remote_page(
                organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                connection_id=connection.pk, records=records)
            total = page.get("total") if isinstance(page.get("total"), int) else None
            run = sync_run_advance(run=run, counts=page_result.counts, done=len(records), total=total,
                                   cursor={"searchAfter": next_cursor} if next_cursor else None)
            result.pages += 1
            if on_page:
                on_page(run)
            if last_page:
                break
            cursor = next_cursor
        GhlConnection.objects.filter(pk=connection.pk).update(last_synced_at=timezone.now())
        result.run = sync_run_finish(run=run)
    except ConnectionInactive as exc:
        result.run = sync_run_finish(run=run, status=SyncRun.Status.CANCELLED, error=f"connection inactive: {exc}")
        logger.info("ghl.sync.pull.stopped", extra={"run_id": run.pk, "connection_id": connection.pk})
    except BaseException as exc:
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        logger.warning("ghl.sync.pull.failed", extra={"run_id": run.pk, "error": str(exc)})
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        client.close()
    logger.info("ghl.sync.pull.done", extra={"run_id": run.pk, "status": result.run.status, "pages": result.pages})
    return result


def _fetch(client: GhlClient, cursor: Any, page_size: int) -> dict:
    return client.contacts.search(page_limit=page_size, search_after=cursor)


def _submit(pool, relay: _TokenRelay, client: GhlClient, cursor: Any, page_size: int):
    if pool is None:
        return None

    return pool.submit(_fetch, client, cursor, page_size)


def _result(future, relay: _TokenRelay, client: GhlClient, cursor: Any, page_size: int) -> dict:
    if future is not None:
        try:
            return future.result()
        except _RefreshInMainThread:
            pass
    return _fetch(client, cursor, page_size)
