"""Opportunity sync runs of one location, each one `SyncRun` (``object_type="opportunity"``) in the sync log.

* `opportunities_pull` (on connect): the mirror (pipelines, users, lost reasons), then every opportunity of
  every status (``GET /opportunities/search``, 100 a page, keyset). On a reconnect it first queues the deals
  changed here since the last run (`opportunities_queue_unpushed`, as below): while the location was
  disconnected no outbox entry was recorded for them.
* `opportunities_reconcile` (every 15 minutes): the mirror again (GHL sends no pipeline events: a stage
  renamed, removed or moved there shows here on the next run), then the opportunities updated since the last
  run (``POST /opportunities/search`` on ``date_updated`` ≥ since − overlap, oldest first, ``searchAfter``);
  stale states are dropped by the watermark, so the overlap costs nothing but the read. Before that, the local
  side: a deal changed here since then whose change never reached the outbox (a crash between the write and
  its entry, an edit that bypassed the services) is queued for GHL (`opportunities_queue_unpushed`), so GHL's
  state merges with it field by field instead of overwriting it. Bounded to 50 s a task, handing over what is
  left to a follow-up that continues from the cursor (`ghl_integration.sync.handover`).
* `opportunities_deletion_sweep` (nightly): GHL has no deleted-since feed, so page every id and archive the
  linked local opportunities GHL no longer has; nothing is archived unless the listing reached GHL's total.

The pull and the sweep are bounded in time too, when their task asks (``budget_seconds``): out of time, the run
keeps the page to continue from (the sweep also the ids listed so far) and hands over, as the reconciliation does.

The cost, ``requests``, is kept in each run's ``cursor`` (with ``since`` for the next reconciliation) and
logged; counts go to the run's fields.
"""
import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from crm.models import ExternalIdentity, Opportunity
from crm.services.opportunity_sync import SYNCED_FIELDS
from crm.sync.models import OutboxEntry, RemoteChange, SyncRun
from crm.sync.outbox import outbox_record
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start
from crm.sync.targets import sync_targets_for

from ..client import GhlApiError, GhlClient
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.exclusive import one_per_location
from ..sync.handover import Handover, claim_run, deadline_after, hand_over
from .inbound import OpportunityResolver, UnknownReference, opportunity_apply_ghl, opportunity_archive_ghl
from .mirror import PROVIDER

logger = logging.getLogger(__name__)

OBJECT_TYPE = "opportunity"
PAGE_SIZE = 100
RECONCILE_BUDGET_SECONDS = 50.0  # one task run of a reconciliation, a pull or a sweep; then it hands over
RECONCILE_OVERLAP = dt.timedelta(minutes=2)  # GHL's search lags its writes by a few seconds
OPEN_OUTBOX = ("pending", "in_progress", "failed", "dead")  # a dead entry stays visible in admin instead
# What a run's applies say in the deals' sync history they came by (`RemoteChange.source`).
SOURCE_OF = {SyncRun.Kind.INITIAL_PULL: RemoteChange.Source.PULL, SyncRun.Kind.RECONCILE: RemoteChange.Source.RECONCILE}
COUNT_OF = {"created": "created", "updated": "updated", "conflicted": "conflicted", "unchanged": "unchanged",
            "stale": "unchanged", "archived": "archived"}


@dataclass
class OpportunityRun:
    run: SyncRun
    requests: int = 0
    seen: int = 0
    total: int | None = None
    handover: Handover | None = None  # out of time: a follow-up continues the run


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
            outcome = opportunity_apply_ghl(connection=connection, doc=doc, resolver=resolver,
                                            source=SOURCE_OF.get(result.run.kind, RemoteChange.Source.READ)).outcome
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


def _all_pages(client: GhlClient, result: OpportunityRun, cursor: dict | None = None):
    """Every opportunity of every status from ``cursor`` on (None: the first page), a page at a time
    (``GET /opportunities/search``, keyset): yields (the page's opportunities, the cursor of the next page, or
    None after the last); counts the requests. The last page's ``meta.total`` is left in ``result.total``."""
    cursor = cursor or {}
    while True:
        page = client.opportunities.search(status="all", limit=PAGE_SIZE, start_after=cursor.get("startAfter"),
                                           start_after_id=cursor.get("startAfterId"))
        result.requests += 1
        docs = list(page.get("opportunities") or [])
        meta = page.get("meta") or {}
        if isinstance(meta.get("total"), int):
            result.total = meta["total"]
        last = not docs or not meta.get("startAfterId")
        cursor = None if last else {"startAfter": meta.get("startAfter"), "startAfterId": meta.get("startAfterId")}
        yield docs, cursor
        if last:
            return


def _claim(connection: GhlConnection, kind: str, handover: Handover | None, fresh_cursor) -> OpportunityRun | None:
    """The run to work on: the location's unfinished ``kind`` run (the handed-over one, for a follow-up), else a
    new one with ``fresh_cursor()``; None for a follow-up whose run was continued already."""
    run, superseded = claim_run(connection, kind, handover, object_type=OBJECT_TYPE)
    if superseded:
        return None
    if run is None:
        result = OpportunityRun(run=_start(connection, kind))
        result.run = sync_run_advance(run=result.run, cursor=fresh_cursor())
        return result
    return OpportunityRun(run=run, requests=int(run.cursor.get("requests", 0)), total=run.cursor.get("total"))


def _client(connection: GhlConnection, client: GhlClient | None) -> GhlClient:
    return client or GhlInstallation(connection).get_client()


@one_per_location("opportunity_pull")
def opportunities_pull(*, connection: GhlConnection, client: GhlClient | None = None,
                       budget_seconds: float | None = None, handover: Handover | None = None) -> OpportunityRun | None:
    """Mirror the pipelines, users and lost reasons, then every opportunity of the location; continues the
    location's unfinished pull if there is one. Out of ``budget_seconds`` (None: to the end), returns with
    ``handover`` set; None for a follow-up whose run was continued already."""
    deadline = deadline_after(budget_seconds)
    result = _claim(connection, SyncRun.Kind.INITIAL_PULL, handover, lambda: _fresh_pull_cursor(connection))
    if result is None:
        return None
    client = _client(connection, client)
    state = dict(result.run.cursor)
    resolver = OpportunityResolver(connection, client)
    try:
        if state["phase"] == "mirror":
            resolver.refresh()  # a continuation refreshes only for an unknown id, as the reconciliation's
            state["phase"] = "pages"
        for docs, after in _all_pages(client, result, state["page"]):
            _apply_page(connection, resolver, result, docs)
            if after is not None and time.monotonic() >= deadline:
                result.requests += resolver.requests
                result.run, result.handover = hand_over(result.run, {**state, "page": after,
                                                                     "requests": result.requests})
                return result
    except GhlApiError as exc:
        return _finish(result, resolver, {"since": state["since"], "queued_local": state.get("queued_local", 0)}, exc)
    return _finish(result, resolver, {"since": state["since"], "queued_local": state.get("queued_local", 0)}, None)


def _fresh_pull_cursor(connection: GhlConnection) -> dict:
    """A new pull's cursor, once the local side is done, as in the reconciliation: the deals changed here since the
    last run and never pushed (a reconnect's: no entry is recorded while the location is disconnected) are queued
    first, so GHL's state applied by the pull merges with them field by field instead of overwriting them. A
    location never synced has nothing of ours to send."""
    started = timezone.now()
    since = _reconcile_since(connection)
    queued = opportunities_queue_unpushed(connection=connection, since=since - RECONCILE_OVERLAP) if since else 0
    return {"phase": "mirror", "since": started.isoformat(), "page": None, "requests": 0, "queued_local": queued}


def _reconcile_since(connection: GhlConnection) -> dt.datetime | None:
    latest = (SyncRun.objects.for_org(connection.organization)
              .filter(provider=PROVIDER, account_id=connection.location_id, object_type=OBJECT_TYPE,
                      kind__in=[SyncRun.Kind.INITIAL_PULL, SyncRun.Kind.RECONCILE], status=SyncRun.Status.SUCCEEDED)
              .order_by("-started_at", "-id").first())
    if latest is None or not (latest.cursor or {}).get("since"):
        return None
    return dt.datetime.fromisoformat(latest.cursor["since"])


@one_per_location("opportunity_reconcile")
def opportunities_reconcile(*, connection: GhlConnection, client: GhlClient | None = None,
                            page_size: int = PAGE_SIZE, budget_seconds: float | None = RECONCILE_BUDGET_SECONDS,
                            handover: Handover | None = None) -> OpportunityRun | None:
    """Refresh the mirror and re-read what changed in GHL since the last run; None before the first pull.

    Bounded to ``budget_seconds`` (None: to the end): out of time, the run stays running with its cursor and
    ``result.handover`` says what the follow-up continues (`ghl_integration.sync.handover`); the location's
    unfinished reconciliation, if any, is continued instead of starting another."""
    deadline = deadline_after(budget_seconds)
    run, superseded = claim_run(connection, SyncRun.Kind.RECONCILE, handover, object_type=OBJECT_TYPE)
    if superseded:
        return None
    client = _client(connection, client)
    resolver = OpportunityResolver(connection, client)
    if run is None:
        since = _reconcile_since(connection)
        if since is None:
            logger.info("ghl.opportunities.reconcile.no-pull-yet", extra={"connection_id": connection.pk})
            return None
        started = timezone.now()
        result = OpportunityRun(run=_start(connection, SyncRun.Kind.RECONCILE))
        # Local side first: GHL's newer state, applied below, must merge with our lost edit (three-way, as the
        # entry's fields are pending), not overwrite it, and its apply would make the deal look synced.
        queued = opportunities_queue_unpushed(connection=connection, since=since - RECONCILE_OVERLAP)
        state = {"phase": "remote", "since": started.isoformat(), "failed_since": since.isoformat(),
                 "window_ms": int((since - RECONCILE_OVERLAP).timestamp() * 1000), "search_after": None,
                 "queued_local": queued, "requests": 0}
        result.run = sync_run_advance(run=result.run, cursor=state)
        try:
            resolver.refresh()  # once per reconciliation; a continuation refreshes only for an unknown id
        except GhlApiError as exc:
            return _finish(result, resolver, {"since": state["failed_since"]}, exc)
    else:
        result = OpportunityRun(run=run, requests=int(run.cursor.get("requests", 0)))
        state = dict(run.cursor)
    try:
        while True:
            page = client.opportunities.search_advanced(
                filters=[{"field": "date_updated", "operator": "range", "value": {"gte": state["window_ms"]}}],
                sort=[{"field": "date_updated", "direction": "asc"}], limit=page_size,
                search_after=state["search_after"])
            result.requests += 1
            docs = list(page.get("opportunities") or [])
            _apply_page(connection, resolver, result, docs)
            after = docs[-1].get("searchAfter") if docs else None
            if len(docs) < page_size or not after:
                break
            state = {**state, "search_after": after}
            if time.monotonic() >= deadline:
                result.requests += resolver.requests
                result.run, result.handover = hand_over(result.run, {**state, "requests": result.requests})
                return result
    except GhlApiError as exc:
        return _finish(result, resolver, {"since": state["failed_since"]}, exc)
    return _finish(result, resolver, {"since": state["since"], "queued_local": state["queued_local"]}, None)


def opportunities_queue_unpushed(*, connection: GhlConnection, since: dt.datetime) -> int:
    """Deals changed here since ``since`` whose change never reached the outbox: queue every synced field for
    this location (the push merges with GHL's state three-way, so a field only GHL changed is not overwritten).
    Returns how many were queued.

    "Never reached" = no open entry for the location, and either not linked to it yet (and not archived) or
    changed after the link last synced. Two queries, then one write per deal queued."""
    if (PROVIDER, connection.location_id) not in sync_targets_for(connection.organization_id,
                                                                  object_type=OBJECT_TYPE):
        return 0  # inactive, or its outbound sync is switched off
    content_type = ContentType.objects.get_for_model(Opportunity)
    open_entries = OutboxEntry.objects.filter(provider=PROVIDER, account_id=connection.location_id,
                                              content_type=content_type, status__in=OPEN_OUTBOX)
    synced_at = ExternalIdentity.objects.filter(
        provider=PROVIDER, account_id=connection.location_id, content_type=content_type, object_id=OuterRef("pk"),
    ).values("last_synced_at")[:1]
    unpushed = (
        Opportunity.objects.for_org(connection.organization).filter(updated_at__gte=since)
        .exclude(pk__in=open_entries.values("object_id"))
        .annotate(synced_at=Subquery(synced_at), linked=Exists(synced_at))
        # archived deals are GHL's deletions: nothing of ours to send
        .filter(is_archived=False)
        .filter(Q(linked=False) | Q(synced_at__isnull=True) | Q(updated_at__gt=F("synced_at")))
        .only("pk", "organization_id")
    )
    queued = 0
    for opp in unpushed:
        queued += bool(outbox_record(obj=opp, fields=list(SYNCED_FIELDS), targets=[(PROVIDER, connection.location_id)],
                                     local_edit=False))
    if queued:
        logger.info("ghl.opportunities.reconcile.queued-local",
                    extra={"connection_id": connection.pk, "queued": queued})
    return queued


@one_per_location("opportunity_deletion_sweep")
def opportunities_deletion_sweep(*, connection: GhlConnection, client: GhlClient | None = None,
                                 budget_seconds: float | None = None,
                                 handover: Handover | None = None) -> OpportunityRun | None:
    """Archive the linked opportunities whose GHL id is gone (see the module docstring); continues the location's
    unfinished sweep if there is one. Out of ``budget_seconds`` (None: to the end) while listing, returns with
    ``handover`` set and the ids listed so far kept on the run; None for a follow-up continued already."""
    deadline = deadline_after(budget_seconds)
    result = _claim(connection, SyncRun.Kind.DELETION_SWEEP, handover,
                    lambda: {"phase": "list", "page": None, "ids": [], "total": None, "requests": 0})
    if result is None:
        return None
    client = _client(connection, client)
    started = result.run.started_at  # links made after the listing began may be newer than it
    state = dict(result.run.cursor)
    remote_ids: set[str] = set(state["ids"])
    try:
        for docs, after in _all_pages(client, result, state["page"]):
            remote_ids |= {d["id"] for d in docs if d.get("id")}
            if after is not None and time.monotonic() >= deadline:
                # The ids are saved only here, with the page after them: a crash resumes from a consistent pair.
                result.run, result.handover = hand_over(result.run, {
                    **state, "page": after, "ids": sorted(remote_ids), "total": result.total,
                    "requests": result.requests})
                return result
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
            if opportunity_archive_ghl(connection=connection, external_id=external_id,
                                       source=RemoteChange.Source.SWEEP).outcome == "archived":
                archived += 1
    result.run = sync_run_advance(run=result.run, counts={"archived": archived}, done=len(remote_ids))
    return _finish(result, None, {"listed": len(remote_ids)}, None)
