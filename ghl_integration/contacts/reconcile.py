"""Reconciliation: repair what webhooks missed, in both directions, at a cost that grows with the changes.

`contacts_reconcile` (every 15 minutes): one ``POST /contacts/search`` filtered on ``dateUpdated ≥ since −
RECONCILE_OVERLAP`` and sorted by ``dateUpdated``, paged with ``searchAfter``; each page goes through the
bulk apply (unchanged records are recognised by their content hash, older ones by the watermark). GHL's
search lags writes by a few seconds, hence the overlap. Then the local side: contacts changed here since
then but never pushed (no open outbox entry, changed after the link last synced, or never linked) get an
outbox entry (a linked one with the fields that differ from its link's snapshot). The cursor
(``{"since": <start of this run>}``) is stored on the run.

Both jobs are bounded in time (``budget_seconds``, `RECONCILE_BUDGET_SECONDS`): out of time, the run stays
``running`` with a cursor saying where to continue (the search's ``searchAfter``, the phase, for the sweep the
ids listed so far) and a handover number; the task queues one follow-up carrying that number (`Handover`). The
follow-up, or whichever run of the job next holds the location's lock (the beat's, or one after a dead
worker), continues that run from its cursor; a follow-up whose number is no longer the run's (someone continued
it already, or a redelivery) does nothing. So a long job holds a worker for a bounded time, every page is
applied once, and exactly one run of each job is in progress per location.

`contacts_deletion_sweep` (nightly): pages every id (``pageLimit`` 500, ~60 requests for 30,000 contacts)
and archives linked local contacts whose GHL id is gone. It archives nothing unless the listing is
complete (GHL's ``total`` reached), and never touches links made after the sweep began.
"""
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.sync.conflict import NO_BASE
from crm.sync.hashing import canonical, values_equal
from crm.sync.inbound import RemoteRecord
from crm.sync.kinds.contact_page import contact_apply_remote_page
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.mapping import get_local_value
from crm.sync.models import OutboxEntry, RemoteChange, SyncRun
from crm.sync.outbox import outbox_record
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start
from crm.sync.targets import sync_targets_for

from ..client import GhlClient
from ..client.contacts import SEARCH_MAX_PAGE_LIMIT
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.exclusive import one_per_location
from ..sync.handover import Handover, claim_run, deadline_after, hand_over
from .inbound import records_from_search_page
from .mapping import PROVIDER, contact_mapping_for
from .runs import contacts_reconcile_since

logger = logging.getLogger(__name__)

RECONCILE_OVERLAP = dt.timedelta(minutes=2)  # GHL's search lags writes by a few seconds
RECONCILE_PAGE_SIZE = 100
SWEEP_PAGE_SIZE = SEARCH_MAX_PAGE_LIMIT  # GHL's largest page: the sweep reads ids only
OPEN_OUTBOX = ("pending", "in_progress", "failed", "dead")  # dead entries stay visible in admin instead
# One task run of a reconciliation or a sweep, as for a push drain: then it hands over (module docstring).
RECONCILE_BUDGET_SECONDS = 50.0
QUEUE_UNPUSHED_BATCH = 500  # local contacts queued between two looks at the clock


@dataclass
class ReconcileResult:
    run: SyncRun | None
    requests: int = 0
    repaired_remote: int = 0  # local rows created/updated/linked/archived from GHL
    queued_local: int = 0  # local changes that had no outbox entry
    counts: dict[str, int] = field(default_factory=dict)
    handover: Handover | None = None  # out of time: the run continues in a follow-up
    superseded: bool = False  # a follow-up whose run someone else continued already: nothing done

    @property
    def repaired(self) -> int:
        return self.repaired_remote + self.queued_local


@one_per_location(SyncRun.Kind.RECONCILE)
def contacts_reconcile(*, connection: GhlConnection, client: GhlClient | None = None,
                       page_size: int = RECONCILE_PAGE_SIZE,
                       budget_seconds: float | None = RECONCILE_BUDGET_SECONDS,
                       handover: Handover | None = None) -> ReconcileResult:
    """One incremental reconciliation of the connection's contacts (see the module docstring), for at most
    ``budget_seconds`` (None: to the end); continues the location's unfinished one if there is one.

    Does nothing (returns ``run=None``) before the first successful initial pull. `ConnectionInactive`
    marks the run cancelled and returns. `SyncBusy` (nothing done) while another reconciliation of the
    location runs. Out of time, returns with ``handover`` set (the run stays running)."""
    deadline = deadline_after(budget_seconds)
    run, superseded = claim_run(connection, SyncRun.Kind.RECONCILE, handover)
    if superseded:
        return ReconcileResult(run=None, superseded=True)
    if run is None:
        since = contacts_reconcile_since(connection=connection)
        if since is None:
            logger.info("ghl.sync.reconcile.no-pull-yet", extra={"connection_id": connection.pk})
            return ReconcileResult(run=None)
        run = sync_run_start(organization=connection.organization, provider=PROVIDER,
                             account_id=connection.location_id, kind=SyncRun.Kind.RECONCILE,
                             connection_id=connection.pk)
        # "since" is where the next run starts once this one has succeeded: this run's first moment.
        run = sync_run_advance(run=run, cursor={"phase": "remote", "since": timezone.now().isoformat(),
                                                "window_start": (since - RECONCILE_OVERLAP).isoformat(),
                                                "search_after": None})
    state = dict(run.cursor)
    window_start = dt.datetime.fromisoformat(state["window_start"])
    result = ReconcileResult(run=run)
    own_client = client is None
    try:
        if state["phase"] == "remote":
            client = client or GhlInstallation(connection).get_client()
            mapping = contact_mapping_for(connection)
            filters = [{"field": "dateUpdated", "operator": "range",
                        "value": {"gte": window_start.isoformat().replace("+00:00", "Z")}}]
            sort = [{"field": "dateUpdated", "direction": "asc"}]
            while True:
                page = client.contacts.search(filters=filters, sort=sort, page_limit=page_size,
                                              search_after=state["search_after"])
                result.requests += 1
                contacts = page.get("contacts") or []
                page_result = contact_apply_remote_page(
                    organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                    connection_id=connection.pk, records=records_from_search_page(mapping, contacts),
                    source=RemoteChange.Source.RECONCILE)
                for key, value in page_result.counts.items():
                    result.counts[key] = result.counts.get(key, 0) + value
                cursor = contacts[-1].get("searchAfter") if contacts else None
                total = page.get("total") if isinstance(page.get("total"), int) else None
                last = len(contacts) < page_size or not cursor or (
                    total is not None and run.progress_done + len(contacts) >= total)
                state = {**state, "search_after": cursor} if not last else {**state, "phase": "local",
                                                                            "after_pk": 0}
                run = sync_run_advance(run=run, counts=page_result.counts, done=len(contacts), total=total,
                                       refusals=page_result.errors, cursor=state)
                if last:
                    break
                if time.monotonic() >= deadline:
                    run, result.handover = hand_over(run, state)
                    result.run = run
                    return _reconcile_logged(connection, result)
        result.repaired_remote = sum(result.counts.get(k, 0) for k in ("created", "updated", "linked", "archived"))
        while True:
            queued, after_pk = contacts_queue_unpushed(connection=connection, since=window_start,
                                                       after_pk=state["after_pk"], limit=QUEUE_UNPUSHED_BATCH)
            result.queued_local += queued
            state = {**state, "after_pk": after_pk,
                     "queued_local": state.get("queued_local", 0) + queued}
            run = sync_run_advance(run=run, cursor=state)
            if after_pk is None:
                break
            if time.monotonic() >= deadline:
                run, result.handover = hand_over(run, state)
                result.run = run
                return _reconcile_logged(connection, result)
        result.run = sync_run_finish(run=run)
        GhlConnection.objects.filter(pk=connection.pk).update(last_synced_at=timezone.now())
    except ConnectionInactive as exc:
        result.run = sync_run_finish(run=run, status=SyncRun.Status.CANCELLED, error=f"connection inactive: {exc}")
    except Exception as exc:
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if own_client and client is not None:
            client.close()
    return _reconcile_logged(connection, result)


def _reconcile_logged(connection: GhlConnection, result: ReconcileResult) -> ReconcileResult:
    logger.info("ghl.sync.reconcile.done", extra={
        "connection_id": connection.pk, "requests": result.requests, "repaired": result.repaired,
        "counts": result.counts, "handed_over": result.handover is not None})
    return result


def contacts_queue_unpushed(*, connection: GhlConnection, since: dt.datetime | None, after_pk: int = 0,
                            limit: int | None = None, linked_only: bool = False) -> tuple[int, int | None]:
    """Local contacts changed since ``since`` (None: ever) whose change never reached the outbox: queue them, in
    id order from ``after_pk``, at most ``limit`` looked at. Returns (how many were queued, the id to continue
    after, or None when none are left). Nothing is queued when the connection does not push contacts.

    "Never pushed" = no open outbox entry for this location, and either no link to it yet (unless
    ``linked_only``) or changed after the link last synced. A linked contact is queued with the fields whose
    value differs from the link's snapshot (the base of the three-way merge), so the push sends what changed
    here and nothing else: a field only GHL changed meanwhile is not overwritten with our older value. One
    query plus one write per contact queued.
    """
    if (PROVIDER, connection.location_id) not in sync_targets_for(connection.organization_id):
        return 0, None  # inactive, or its outbound contact sync is switched off
    content_type = ContentType.objects.get_for_model(Contact, for_concrete_model=True)
    open_entries = OutboxEntry.objects.filter(provider=PROVIDER, account_id=connection.location_id,
                                              content_type=content_type, status__in=OPEN_OUTBOX)
    links = ExternalIdentity.objects.filter(
        provider=PROVIDER, account_id=connection.location_id, content_type=content_type, object_id=OuterRef("pk"))
    contacts = Contact.objects.for_org(connection.organization).filter(pk__gt=after_pk)
    if since is not None:
        contacts = contacts.filter(updated_at__gte=since)
    changed_since_sync = (Q(linked=True, synced_at__isnull=True) | Q(linked=True, updated_at__gt=F("synced_at")))
    unpushed = (
        contacts.exclude(pk__in=open_entries.values("object_id"))
        .annotate(synced_at=Subquery(links.values("last_synced_at")[:1]), linked=Exists(links),
                  snapshot=Subquery(links.values("synced_snapshot")[:1]))
        # never linked (and not archived: nothing to delete in GHL), or changed after the link last synced
        .filter(changed_since_sync if linked_only else Q(linked=False, is_archived=False) | changed_since_sync)
        .order_by("pk")
    )
    batch = list(unpushed[:limit + 1] if limit is not None else unpushed)
    more = limit is not None and len(batch) > limit
    batch = batch[:limit] if more else batch
    mapping = contact_mapping_for(connection) if batch else None
    all_fields = _outbound_fields(mapping) if batch else []
    queued = 0
    for contact in batch:
        if contact.is_archived:
            fields = ["is_archived"]  # the delete policy decides what GHL does with it
        elif contact.linked:
            fields = _changed_since_snapshot(mapping, contact, contact.snapshot)
        else:
            fields = all_fields
        if fields:
            queued += bool(outbox_record(obj=contact, fields=fields, targets=[(PROVIDER, connection.location_id)],
                                         local_edit=False))
    if queued:
        logger.info("ghl.sync.reconcile.queued-local", extra={"connection_id": connection.pk, "queued": queued})
    return queued, (batch[-1].pk if more else None)


def _outbound_fields(mapping) -> list[str]:
    """Every outbound-mapped local field, as the outbox names them (custom properties as one field)."""
    return _outbox_names({spec.local_field for spec in mapping.specs if spec.outbound})


def _outbox_names(names: set[str]) -> list[str]:
    fields = {n for n in names if not n.startswith(LOCAL_CUSTOM_PREFIX)} | {"full_name"}
    if any(n.startswith(LOCAL_CUSTOM_PREFIX) for n in names):
        fields.add("custom_properties")
    return sorted(fields)


def _changed_since_snapshot(mapping, contact: Contact, snapshot: dict | None) -> list[str]:
    """The outbound fields whose local value is not the one both sides held at the last sync (the link's
    snapshot); a field the snapshot lacks counts when it holds a value here. Empty: nothing to push (the row
    was saved without a synced field changing)."""
    snapshot = snapshot or {}
    changed = set()
    for spec in mapping.specs:
        if not spec.outbound:
            continue
        local = canonical(get_local_value(contact, spec.local_field))
        base = snapshot.get(spec.local_field, NO_BASE)
        if (local not in (None, "", [], {})) if base is NO_BASE else not values_equal(spec.local_field, local, base):
            changed.add(spec.local_field)
    return _outbox_names(changed) if changed else []


@one_per_location(SyncRun.Kind.DELETION_SWEEP)
def contacts_deletion_sweep(*, connection: GhlConnection, budget_seconds: float | None = RECONCILE_BUDGET_SECONDS,
                            handover: Handover | None = None) -> ReconcileResult:
    """Archive local contacts whose GHL contact is gone (see the module docstring), for at most
    ``budget_seconds`` (None: to the end); continues the location's unfinished sweep if there is one. Never
    destroys a row. `SyncBusy` (nothing done) while another sweep of the location runs. Out of time, returns
    with ``handover`` set: the ids listed so far are kept on the run, with the page to continue from."""
    deadline = deadline_after(budget_seconds)
    run, superseded = claim_run(connection, SyncRun.Kind.DELETION_SWEEP, handover)
    if superseded:
        return ReconcileResult(run=None, superseded=True)
    if run is None:
        run = sync_run_start(organization=connection.organization, provider=PROVIDER,
                             account_id=connection.location_id, kind=SyncRun.Kind.DELETION_SWEEP,
                             connection_id=connection.pk)
        run = sync_run_advance(run=run, cursor={"phase": "list", "search_after": None, "ids": [], "total": None})
    state = dict(run.cursor)
    # Links made after the sweep began are never touched: their contacts may be newer than the listing.
    started = run.started_at
    remote_ids: set[str] = set(state["ids"])
    total = state["total"]
    result = ReconcileResult(run=run)
    client = None
    try:
        if state["phase"] == "list":
            client = GhlInstallation(connection).get_client()
            cursor = state["search_after"]
            while True:
                page = client.contacts.search(page_limit=SWEEP_PAGE_SIZE, search_after=cursor)
                result.requests += 1
                contacts = page.get("contacts") or []
                remote_ids.update(str(c["id"]) for c in contacts if c.get("id"))
                total = page.get("total") if isinstance(page.get("total"), int) else total
                cursor = contacts[-1].get("searchAfter") if contacts else None
                run = sync_run_advance(run=run, done=len(contacts), total=total)
                if len(contacts) < SWEEP_PAGE_SIZE or not cursor or (total is not None and len(remote_ids) >= total):
                    break
                if time.monotonic() >= deadline:
                    # The ids are saved only here, with the page after them: a crash resumes from a
                    # consistent pair (the pages since are listed again), and a page costs no big write.
                    run, result.handover = hand_over(run, {**state, "search_after": cursor,
                                                            "ids": sorted(remote_ids), "total": total})
                    result.run = run
                    return _sweep_logged(connection, result)
            if total is not None and len(remote_ids) < total:
                raise RuntimeError(f"incomplete id listing ({len(remote_ids)} of {total}): nothing archived")
            state = {**state, "phase": "archive", "search_after": None, "ids": sorted(remote_ids), "total": total}
        content_type = ContentType.objects.get_for_model(Contact, for_concrete_model=True)
        # Worked out again on a continuation: contacts archived by the last one are no longer active.
        active = Contact.objects.for_org(connection.organization).active().values("pk")
        gone = sorted(
            ext_id for ext_id in ExternalIdentity.objects.filter(
                provider=PROVIDER, account_id=connection.location_id, content_type=content_type,
                created_at__lt=started, object_id__in=active,
            ).values_list("external_id", flat=True)
            if ext_id not in remote_ids
        )
        for start in range(0, len(gone), 100):
            if start and time.monotonic() >= deadline:
                run, result.handover = hand_over(run, state)
                result.run = run
                return _sweep_logged(connection, result)
            page_result = contact_apply_remote_page(
                organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                connection_id=connection.pk,
                records=[RemoteRecord(external_id=e, remote={}, deleted=True) for e in gone[start:start + 100]],
                source=RemoteChange.Source.SWEEP)
            run = sync_run_advance(run=run, counts=page_result.counts, refusals=page_result.errors)
            result.repaired_remote += page_result.counts.get("archived", 0)
        run = sync_run_advance(run=run, cursor={"phase": "done", "total": total})  # the id list is not kept
        result.run = sync_run_finish(run=run)
    except ConnectionInactive as exc:
        result.run = sync_run_finish(run=run, status=SyncRun.Status.CANCELLED, error=f"connection inactive: {exc}")
    except Exception as exc:
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if client is not None:
            client.close()
    return _sweep_logged(connection, result)


def _sweep_logged(connection: GhlConnection, result: ReconcileResult) -> ReconcileResult:
    logger.info("ghl.sync.deletion-sweep.done", extra={
        "connection_id": connection.pk, "requests": result.requests, "archived": result.repaired_remote,
        "handed_over": result.handover is not None})
    return result


def connections_for_sync() -> list[GhlConnection]:
    """Active location connections (the beat tasks fan out over these)."""
    return list(GhlConnection.objects.filter(status=GhlConnection.Status.ACTIVE).exclude(location_id="")
                .exclude(token_level=GhlConnection.TokenLevel.COMPANY).select_related("organization"))
