"""Reconciliation: repair what webhooks missed, in both directions, at a cost that grows with the changes.

`contacts_reconcile` (every 15 minutes): one ``POST /contacts/search`` filtered on ``dateUpdated ≥ since −
RECONCILE_OVERLAP`` and sorted by ``dateUpdated``, paged with ``searchAfter``; each page goes through the
bulk apply (unchanged records are recognised by their content hash, older ones by the watermark). GHL's
search lags writes by a few seconds, hence the overlap. Then the local side: contacts changed here since
then but never pushed (no open outbox entry, changed after the link last synced, or never linked) get an
outbox entry. The cursor (``{"since": <start of this run>}``) is stored on the run.

`contacts_deletion_sweep` (nightly): pages every id (``pageLimit`` 500, ~60 requests for 30,000 contacts)
and archives linked local contacts whose GHL id is gone. It archives nothing unless the listing is
complete (GHL's ``total`` reached), and never touches links made after the sweep began.
"""
import datetime as dt
import logging
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from crm.models import Contact, ExternalIdentity
from crm.sync.inbound import RemoteRecord
from crm.sync.inbound_page import contact_apply_remote_page
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.models import OutboxEntry, SyncRun
from crm.sync.outbox import outbox_record
from crm.sync.runs import sync_run_advance, sync_run_finish, sync_run_start

from ..client import GhlClient
from ..client.contacts import SEARCH_MAX_PAGE_LIMIT
from ..connections import ConnectionInactive
from ..installation import GhlInstallation
from ..models import GhlConnection
from .contacts_inbound import records_from_search_page
from .exclusive import one_per_location
from .mapping import PROVIDER, contact_mapping_for
from .runs import contacts_reconcile_since

logger = logging.getLogger(__name__)

RECONCILE_OVERLAP = dt.timedelta(minutes=2)  # GHL's search lags writes by a few seconds
RECONCILE_PAGE_SIZE = 100
SWEEP_PAGE_SIZE = SEARCH_MAX_PAGE_LIMIT  # GHL's largest page: the sweep reads ids only
OPEN_OUTBOX = ("pending", "in_progress", "failed", "dead")  # dead entries stay visible in admin instead


@dataclass
class ReconcileResult:
    run: SyncRun | None
    requests: int = 0
    repaired_remote: int = 0  # local rows created/updated/linked/archived from GHL
    queued_local: int = 0  # local changes that had no outbox entry
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def repaired(self) -> int:
        return self.repaired_remote + self.queued_local


@one_per_location(SyncRun.Kind.RECONCILE)
def contacts_reconcile(*, connection: GhlConnection, client: GhlClient | None = None,
                       page_size: int = RECONCILE_PAGE_SIZE) -> ReconcileResult:
    """One incremental reconciliation of the connection's contacts (see the module docstring).

    Does nothing (returns ``run=None``) before the first successful initial pull. `ConnectionInactive`
    marks the run cancelled and returns. `SyncBusy` (nothing done) while another reconciliation of the
    location runs."""
    since = contacts_reconcile_since(connection=connection)
    if since is None:
        logger.info("ghl.sync.reconcile.no-pull-yet", extra={"connection_id": connection.pk})
        return ReconcileResult(run=None)
    started = timezone.now()
    window_start = since - RECONCILE_OVERLAP
    run = sync_run_start(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                         kind=SyncRun.Kind.RECONCILE, connection_id=connection.pk)
    result = ReconcileResult(run=run)
    own_client = client is None
    try:
        client = client or GhlInstallation(connection).get_client()
        mapping = contact_mapping_for(connection)
        filters = [{"field": "dateUpdated", "operator": "range",
                    "value": {"gte": window_start.isoformat().replace("+00:00", "Z")}}]
        sort = [{"field": "dateUpdated", "direction": "asc"}]
        cursor = None
        while True:
            page = client.contacts.search(filters=filters, sort=sort, page_limit=page_size, search_after=cursor)
            result.requests += 1
            contacts = page.get("contacts") or []
            page_result = contact_apply_remote_page(
                organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                connection_id=connection.pk, records=records_from_search_page(mapping, contacts))
            for key, value in page_result.counts.items():
                result.counts[key] = result.counts.get(key, 0) + value
            cursor = contacts[-1].get("searchAfter") if contacts else None
            total = page.get("total") if isinstance(page.get("total"), int) else None
            run = sync_run_advance(run=run, counts=page_result.counts, done=len(contacts), total=total,
                                   refusals=page_result.errors)
            if len(contacts) < page_size or not cursor or (total is not None and run.progress_done >= total):
                break
        result.repaired_remote = sum(result.counts.get(k, 0) for k in ("created", "updated", "linked", "archived"))
        result.queued_local = contacts_queue_unpushed(connection=connection, since=window_start)
        run = sync_run_advance(run=run, cursor={"since": started.isoformat(), "queued_local": result.queued_local})
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
    logger.info("ghl.sync.reconcile.done", extra={
        "connection_id": connection.pk, "requests": result.requests, "repaired": result.repaired,
        "counts": result.counts})
    return result


def contacts_queue_unpushed(*, connection: GhlConnection, since: dt.datetime) -> int:
    """Local contacts changed since ``since`` whose change never reached the outbox: queue them. Returns how many.

    "Never pushed" = no open outbox entry for this location, and either no link to it yet or changed after
    the link last synced. Two queries plus one write per contact queued.
    """
    content_type = ContentType.objects.get_for_model(Contact, for_concrete_model=True)
    open_entries = OutboxEntry.objects.filter(provider=PROVIDER, account_id=connection.location_id,
                                              content_type=content_type, status__in=OPEN_OUTBOX)
    synced_at = ExternalIdentity.objects.filter(
        provider=PROVIDER, account_id=connection.location_id, content_type=content_type, object_id=OuterRef("pk"),
    ).values("last_synced_at")[:1]
    unpushed = (
        Contact.objects.for_org(connection.organization).filter(updated_at__gte=since)
        .exclude(pk__in=open_entries.values("object_id"))
        .annotate(synced_at=Subquery(synced_at), linked=Exists(synced_at))
        # never linked (and not archived: nothing to delete in GHL), or changed after the link last synced
        .filter(Q(linked=False, is_archived=False) | Q(linked=True, synced_at__isnull=True)
                | Q(linked=True, updated_at__gt=F("synced_at")))
        .only("pk", "organization_id", "is_archived")
    )
    fields = _outbound_fields(contact_mapping_for(connection))
    queued = 0
    for contact in unpushed:
        outbox_record(obj=contact, fields=fields if not contact.is_archived else ["is_archived"],
                      targets=[(PROVIDER, connection.location_id)], local_edit=False)
        queued += 1
    if queued:
        logger.info("ghl.sync.reconcile.queued-local", extra={"connection_id": connection.pk, "queued": queued})
    return queued


def _outbound_fields(mapping) -> list[str]:
    """Every outbound-mapped local field, as the outbox names them (custom properties as one field)."""
    names = {spec.local_field for spec in mapping.specs if spec.outbound}
    fields = {n for n in names if not n.startswith(LOCAL_CUSTOM_PREFIX)} | {"full_name"}
    if any(n.startswith(LOCAL_CUSTOM_PREFIX) for n in names):
        fields.add("custom_properties")
    return sorted(fields)


@one_per_location(SyncRun.Kind.DELETION_SWEEP)
def contacts_deletion_sweep(*, connection: GhlConnection) -> ReconcileResult:
    """Archive local contacts whose GHL contact is gone (see the module docstring). Never destroys a row.
    `SyncBusy` (nothing done) while another sweep of the location runs."""
    started = timezone.now()
    run = sync_run_start(organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                         kind=SyncRun.Kind.DELETION_SWEEP, connection_id=connection.pk)
    result = ReconcileResult(run=run)
    client = None
    try:
        client = GhlInstallation(connection).get_client()
        remote_ids: set[str] = set()
        total = None
        cursor = None
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
        if total is not None and len(remote_ids) < total:
            raise RuntimeError(f"incomplete id listing ({len(remote_ids)} of {total}): nothing archived")
        content_type = ContentType.objects.get_for_model(Contact, for_concrete_model=True)
        active = Contact.objects.for_org(connection.organization).active().values("pk")
        gone = [
            ext_id for ext_id in ExternalIdentity.objects.filter(
                provider=PROVIDER, account_id=connection.location_id, content_type=content_type,
                created_at__lt=started, object_id__in=active,
            ).values_list("external_id", flat=True)
            if ext_id not in remote_ids
        ]
        for start in range(0, len(gone), 100):
            page_result = contact_apply_remote_page(
                organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
                connection_id=connection.pk,
                records=[RemoteRecord(external_id=e, remote={}, deleted=True) for e in gone[start:start + 100]])
            run = sync_run_advance(run=run, counts=page_result.counts, refusals=page_result.errors)
            result.repaired_remote += page_result.counts.get("archived", 0)
        result.run = sync_run_finish(run=run)
    except ConnectionInactive as exc:
        result.run = sync_run_finish(run=run, status=SyncRun.Status.CANCELLED, error=f"connection inactive: {exc}")
    except Exception as exc:
        sync_run_finish(run=run, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if client is not None:
            client.close()
    logger.info("ghl.sync.deletion-sweep.done", extra={
        "connection_id": connection.pk, "requests": result.requests, "archived": result.repaired_remote})
    return result


def connections_for_sync() -> list[GhlConnection]:
    """Active location connections (the beat tasks fan out over these)."""
    return list(GhlConnection.objects.filter(status=GhlConnection.Status.ACTIVE).exclude(location_id="")
                .exclude(token_level=GhlConnection.TokenLevel.COMPANY).select_related("organization"))
