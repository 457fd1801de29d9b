"""Opportunity sync runs of one location, each one `SyncRun` (``object_type="opportunity"``) in the sync log.

* `opportunities_pull` (on connect): the mirror (pipelines, users, lost reasons), then every opportunity of
  every status (``GET /opportunities/search``, 100 a page, keyset).
* `opportunities_reconcile` (every 15 minutes): the mirror again (GHL sends no pipeline events: a stage
  renamed, removed or moved there shows here on the next run), then the opportunities updated since the last
  run (``POST /opportunities/search`` on ``date_updated`` ≥ since − overlap, oldest first, ``searchAfter``);
  stale states are dropped by the watermark, so the overlap costs nothing but the read.
* `opportunities_deletion_sweep` (nightly): GHL has no deleted-since feed, so page every id and archive the
  linked local opportunities GHL no longer has; nothing is archived unless the listing reached GHL's total.

The cost, ``requests``, is kept in each run's ``cursor`` (with ``since`` for the next reconciliation) and
logged; counts go to the run's fields.
"""
import datetime as dt
import logging
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.models import ExternalIdentity, Opportunity
from crm.sync.models import SyncRun
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start

from ..client import GhlApiError, GhlClient
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.exclusive import one_per_location
from .inbound import OpportunityResolver, UnknownReference, opportunity_apply_ghl, opportunity_archive_ghl
from .mirror import PROVIDER

logger = logging.getLogger(__name__)

OBJECT_TYPE = "opportunity"
PAGE_SIZE = 100
RECONCILE_OVERLAP = dt.timedelta(minutes=2)  # GHL's search lags its writes by a few seconds
COUNT_OF = {"created": "created", "updated": "updated", "conflicted": "conflicted", "unchanged": "unchanged",
            "stale": "unchanged", "archived": "archived"}


@dataclass
class OpportunityRun:
    run: SyncRun
    requests: int = 0
    seen: int = 0
    total: int | None = None


def _start(connection: GhlConnection, kind: str) -> SyncRun:
    return sync_run_start(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                          kind=kind, connection_id=connection.pk, object_type=OBJECT_TYPE)


def _apply_page(connection: GhlConnection, resolver: OpportunityResolver, result: OpportunityRun,
                docs: list[dict]) -> None:
    counts: dict[str, int] = {}
    refusals: dict[str, str] = {}
    for doc in docs:
        if not doc.get("id"):
            continue
        try:
            outcome = opportunity_apply_ghl(connection=connection, doc=doc, resolver=resolver).outcome
        except UnknownReference as exc:
            refusals[doc["id"]] = str(exc)
            continue
        counts[COUNT_OF[outcome]] = counts.get(COUNT_OF[outcome], 0) + 1
    result.seen += len(docs)
    result.run = sync_run_advance(run=result.run, counts=counts, done=len(docs), refusals=refusals)


def _finish(result: OpportunityRun, resolver: OpportunityResolver | None, cursor: dict, error: Exception | None):
    if resolver is not None:
        result.requests += resolver.requests
    result.run = sync_run_advance(run=result.run, cursor={**cursor, "requests": result.requests})
    status = SyncRun.Status.SUCCEEDED if error is None else SyncRun.Status.FAILED
    result.run = sync_run_finish(run=result.run, status=status, error=str(error or ""))
    logger.info("ghl.opportunities.run-done", extra={"run_id": result.run.pk, "kind": result.run.kind,
                                                     "requests": result.requests, "seen": result.seen,
                                                     "status": status})
    return result


def _all_pages(client: GhlClient, result: OpportunityRun):
    """Every opportunity of every status, a page at a time (``GET /opportunities/search``, keyset); counts the
    requests. The last page's ``meta.total`` is left in ``result.total``."""
    cursor: dict = {}
    while True:
        page = client.opportunities.search(status="all", limit=PAGE_SIZE, start_after=cursor.get("startAfter"),
                                           start_after_id=cursor.get("startAfterId"))
        result.requests += 1
        docs = list(page.get("opportunities") or [])
        meta = page.get("meta") or {}
        if isinstance(meta.get("total"), int):
            result.total = meta["total"]
        yield docs
        if not docs or not meta.get("startAfterId"):
            return
        cursor = {"startAfter": meta.get("startAfter"), "startAfterId": meta.get("startAfterId")}


def _client(connection: GhlConnection, client: GhlClient | None) -> GhlClient:
    return client or GhlInstallation(connection).get_client()


@one_per_location("opportunity_pull")
def opportunities_pull(*, connection: GhlConnection, client: GhlClient | None = None) -> OpportunityRun:
    """Mirror the pipelines, users and lost reasons, then every opportunity of the location."""
    client = _client(connection, client)
    result = OpportunityRun(run=_start(connection, SyncRun.Kind.INITIAL_PULL))
    started = timezone.now()
    resolver = OpportunityResolver(connection, client)
    try:
        resolver.refresh()
        for docs in _all_pages(client, result):
            _apply_page(connection, resolver, result, docs)
    except GhlApiError as exc:
        return _finish(result, resolver, {"since": started.isoformat()}, exc)
    return _finish(result, resolver, {"since": started.isoformat()}, None)


def _reconcile_since(connection: GhlConnection) -> dt.datetime | None:
    latest = (SyncRun.objects.for_org(connection.organization)
              .filter(provider=PROVIDER, account_id=connection.location_id, object_type=OBJECT_TYPE,
                      kind__in=[SyncRun.Kind.INITIAL_PULL, SyncRun.Kind.RECONCILE], status=SyncRun.Status.SUCCEEDED)
              .order_by("-started_at", "-id").first())
    if latest is None or not (latest.cursor or {}).get("since"):
        return None
    return dt.datetime.fromisoformat(latest.cursor["since"])


@one_per_location("opportunity_reconcile")
def opportunities_reconcile(*, connection: GhlConnection, client: GhlClient | None = None) -> OpportunityRun | None:
    """Refresh the mirror and re-read what changed in GHL since the last run; None before the first pull."""
    since = _reconcile_since(connection)
    if since is None:
        logger.info("ghl.opportunities.reconcile.no-pull-yet", extra={"connection_id": connection.pk})
        return None
    client = _client(connection, client)
    started = timezone.now()
    result = OpportunityRun(run=_start(connection, SyncRun.Kind.RECONCILE))
    resolver = OpportunityResolver(connection, client)
    window_ms = int((since - RECONCILE_OVERLAP).timestamp() * 1000)
    try:
        resolver.refresh()
        after = None
        while True:
            page = client.opportunities.search_advanced(
                filters=[{"field": "date_updated", "operator": "range", "value": {"gte": window_ms}}],
                sort=[{"field": "date_updated", "direction": "asc"}], limit=PAGE_SIZE, search_after=after)
            result.requests += 1
            docs = list(page.get("opportunities") or [])
            _apply_page(connection, resolver, result, docs)
            after = docs[-1].get("searchAfter") if docs else None
            if len(docs) < PAGE_SIZE or not after:
                break
    except GhlApiError as exc:
        return _finish(result, resolver, {"since": since.isoformat()}, exc)
    return _finish(result, resolver, {"since": started.isoformat()}, None)


@one_per_location("opportunity_deletion_sweep")
def opportunities_deletion_sweep(*, connection: GhlConnection, client: GhlClient | None = None) -> OpportunityRun:
    """Archive the linked opportunities whose GHL id is gone (see the module docstring)."""
    client = _client(connection, client)
    started = timezone.now()
    result = OpportunityRun(run=_start(connection, SyncRun.Kind.DELETION_SWEEP))
    remote_ids: set[str] = set()
    try:
        for docs in _all_pages(client, result):
            remote_ids |= {d["id"] for d in docs if d.get("id")}
    except GhlApiError as exc:
        return _finish(result, None, {}, exc)
    result.seen = len(remote_ids)
    total = result.total
    if isinstance(total, int) and len(remote_ids) < total:
        # An incomplete listing (GHL changed under us): archiving from it could archive live deals.
        return _finish(result, None, {"listed": len(remote_ids), "total": total},
                       RuntimeError(f"listed {len(remote_ids)} of {total} ids; archived nothing"))
    ct = ContentType.objects.get_for_model(Opportunity)
    links = (ExternalIdentity.objects.for_org(connection.organization)
             .filter(provider=PROVIDER, account_id=connection.location_id, content_type=ct, created_at__lt=started)
             .values_list("external_id", flat=True))
    archived = 0
    for external_id in links:
        if external_id not in remote_ids:
            if opportunity_archive_ghl(connection=connection, external_id=external_id).outcome == "archived":
                archived += 1
    result.run = sync_run_advance(run=result.run, counts={"archived": archived}, done=len(remote_ids))
    return _finish(result, None, {"listed": len(remote_ids)}, None)
