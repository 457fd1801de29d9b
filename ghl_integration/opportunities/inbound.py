"""One GHL opportunity applied here: its GHL ids resolved to local rows, then `crm.services.opportunity_sync`.

A webhook is only a ring of the bell: `opportunity_apply_ghl_event` reads the opportunity itself
(``GET /opportunities/{id}``), because the Opportunity* bodies carry no ``updatedAt`` (the watermark that
orders them), no custom fields and no lost reason. One edit in GHL fires several events (stage, status, value,
the generic update); each reads the same state with the same ``updatedAt``, so the first applies it and the
others are stale, in any order. An event whose summary equals the state we hold, sent within seconds of it
(our own push's echo, the rest of a burst), is not read at once: its summary cannot show a change to a custom
field or the lost reason, so one read of the deal is queued a few seconds later instead, shared by every such
event of the deal until it runs (`opportunity_confirm_schedule`). A 404 there, or an ``OpportunityDelete``,
archives the local row.

An id we do not know (a stage added in GHL, a new user, a lost reason) refreshes the mirror once
(`mirror.opportunity_metadata_refresh`); a contact we do not have yet is read and applied through the contact
sync first.
"""
import datetime as dt
import logging
import time
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction

from crm.models import Contact, CrmUser, ExternalIdentity, LostReason, Opportunity, Pipeline, PipelineStage
from crm.selectors.external_ids import local_object_for_external_id
from crm.services.opportunity_sync import (
    ApplyOutcome,
    RemoteOpportunity,
    opportunity_apply_from_remote,
    opportunity_archive_from_remote,
)
from crm.sync.kinds import OPPORTUNITY
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.mapping import Mapping
from crm.sync.models import FieldMapping, RemoteChange

from ..client import GhlClient, GhlNotFound
from ..contacts.inbound import contact_apply_ghl_event
from ..contacts.shape import CUSTOM_PREFIX
from ..models import GhlConnection
from ..timestamps import parse_ghl_time
from .currency import connection_currency
from .mapping import opportunity_mapping_for
from .mirror import PROVIDER, opportunity_metadata_refresh
from .shape import custom_field_value, money, status_of

logger = logging.getLogger(__name__)

ECHO_WINDOW = dt.timedelta(seconds=5)
# Long enough for the rest of one edit's burst (or our push's echoes) to fold into the one read, short enough
# that an edit the summary cannot show (a custom field, the lost reason) still arrives within seconds.
CONFIRM_DELAY_SECONDS = 2.0
# A queued read whose message was lost stops holding the slot after this, so a later event queues another.
CONFIRM_SLOT_SECONDS = 30
# How long we remember when we last read a deal's full state (longer than the echo window).
READ_MARK_SECONDS = 60


class UnknownReference(Exception):
    """The opportunity names a pipeline or stage GHL itself does not list (not even after a refresh)."""


class OpportunityResolver:
    """GHL ids → local rows for one connection; refreshes the mirror at most once in its lifetime (a pull
    shares one resolver across its pages)."""

    def __init__(self, connection: GhlConnection, client: GhlClient):
        self.connection, self.client = connection, client
        self.refreshed = False
        self.requests = 0
        self._mapping: Mapping | None = None
        self._off: set[str] | None = None

    def _find(self, model, external_id: Any):
        if not isinstance(external_id, str) or not external_id:
            return None
        return local_object_for_external_id(model=model, provider=PROVIDER, account_id=self.connection.location_id,
                                            external_id=external_id)

    def refresh(self) -> bool:
        """Refresh the mirror unless this resolver did already; True when it did now."""
        if self.refreshed:
            return False
        self.refreshed = True
        self.requests += opportunity_metadata_refresh(connection=self.connection, client=self.client).requests
        self._mapping = self._off = None
        return True

    def _find_or_refresh(self, model, external_id: Any):
        row = self._find(model, external_id)
        if row is None and isinstance(external_id, str) and external_id and self.refresh():
            row = self._find(model, external_id)
        return row

    def mapping(self, doc: dict[str, Any] | None = None) -> Mapping:
        """The opportunity custom-field mapping; a deal carrying a field no row knows refreshes the mirror
        (which adds its row) once."""
        if self._mapping is None:
            self._mapping = opportunity_mapping_for(self.connection)
        if doc is not None and not self.refreshed:
            ids = {f"{CUSTOM_PREFIX}{item.get('id')}" for item in doc.get("customFields") or []
                   if isinstance(item, dict) and item.get("id")}
            known = set(self._mapping.by_remote) | self._switched_off()
            if ids - known:
                self.refresh()
                self._mapping = opportunity_mapping_for(self.connection)
        return self._mapping

    def _switched_off(self) -> set[str]:
        if self._off is None:
            self._off = set(FieldMapping.objects.for_org(self.connection.organization).filter(
                provider=PROVIDER, account_id=self.connection.location_id, object_type=OPPORTUNITY,
                is_active=False).values_list("remote_key", flat=True))
        return self._off

    def custom_properties(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The deal's mapped custom fields as {our key: value}: every inbound-mapped field, ``None`` when GHL
        holds no value for it; a value its type refuses is left out (kept as it is here) and recorded on the
        mapping row with the deal it came in."""
        mapping = self.mapping(doc)
        remote = {spec.remote_key: None for spec in mapping.specs if spec.inbound}
        for item in doc.get("customFields") or []:
            if isinstance(item, dict) and item.get("id"):
                remote[f"{CUSTOM_PREFIX}{item['id']}"] = custom_field_value(item)
        local = mapping.to_local(remote)
        if mapping.errors:
            mapping.record_errors(subject=f"{(doc.get('name') or '').strip()} (GHL opportunity {doc.get('id')})")
        return {name[len(LOCAL_CUSTOM_PREFIX):]: value for name, value in local.items()
                if name.startswith(LOCAL_CUSTOM_PREFIX)}

    def contact(self, external_id: Any) -> Contact | None:
        contact = self._find(Contact, external_id)
        if contact is not None or not isinstance(external_id, str) or not external_id:
            return contact
        try:
            remote = self.client.contacts.get(external_id)
            self.requests += 1
        except GhlNotFound:
            return None
        contact_apply_ghl_event(connection=self.connection, payload=remote,
                                delivered_at=parse_ghl_time(remote.get("dateUpdated")))
        return self._find(Contact, external_id)

    def remote(self, doc: dict[str, Any]) -> RemoteOpportunity:
        stage = self._find(PipelineStage, doc.get("pipelineStageId"))
        pipeline = self._find(Pipeline, doc.get("pipelineId"))
        if stage is None or pipeline is None or stage.pipeline_id != pipeline.pk:
            self.refresh()
            stage = self._find(PipelineStage, doc.get("pipelineStageId"))
            pipeline = self._find(Pipeline, doc.get("pipelineId"))
        if stage is None or pipeline is None or stage.pipeline_id != pipeline.pk:
            raise UnknownReference(f"opportunity {doc.get('id')}: GHL lists no stage {doc.get('pipelineStageId')!r} "
                                   f"in pipeline {doc.get('pipelineId')!r}")
        return RemoteOpportunity(
            external_id=doc["id"], name=(doc.get("name") or "").strip() or "(unnamed)", pipeline=pipeline,
            stage=stage, status=status_of(doc), monetary_value=money(doc.get("monetaryValue")),
            contact=self.contact(doc.get("contactId")),
            assignee=self._find_or_refresh(CrmUser, doc.get("assignedTo")),
            lost_reason=self._find_or_refresh(LostReason, doc.get("lostReasonId")) if status_of(doc) == "lost"
            else None,
            source=doc.get("source") or "", custom_properties=self.custom_properties(doc),
            updated_at=parse_ghl_time(doc.get("updatedAt")),
            stage_changed_at=parse_ghl_time(doc.get("lastStageChangeAt")),
            status_changed_at=parse_ghl_time(doc.get("lastStatusChangeAt")),
            currency=connection_currency(self.connection),
        )


def opportunity_apply_ghl(*, connection: GhlConnection, doc: dict[str, Any], resolver: OpportunityResolver,
                          source: str = RemoteChange.Source.READ) -> ApplyOutcome:
    """Apply one GHL opportunity object (a GET or a search item); ``source``: what the deal's sync history says
    it came by (a webhook, a pull, a reconciliation; a read by default)."""
    return opportunity_apply_from_remote(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        remote=resolver.remote(doc), connection_id=connection.pk, source=source)


def opportunity_archive_ghl(*, connection: GhlConnection, external_id: str, at: dt.datetime | None = None,
                            source: str = RemoteChange.Source.READ) -> ApplyOutcome:
    return opportunity_archive_from_remote(organization=connection.organization, provider=PROVIDER,
                                           account_id=connection.location_id, external_id=external_id, at=at,
                                           connection_id=connection.pk, source=source)


def _is_known_state(connection: GhlConnection, external_id: str, payload: dict[str, Any],
                    delivered_at: dt.datetime | None) -> bool:
    """The event repeats the state we hold: sent within `ECHO_WINDOW` after the GHL change we last applied or
    pushed, and its summary (name, stage, status, value, contact, assignee) equal to that state. It is the echo
    of our own push, or one more event of the edit just applied; reading the deal again would only spend GHL's
    rate budget. The summary has no custom fields and no lost reason, so the caller still queues one read to
    confirm (`opportunity_confirm_schedule`)."""
    if delivered_at is None:
        return False
    link = (ExternalIdentity.objects.filter(provider=PROVIDER, account_id=connection.location_id,
                                            content_type=ContentType.objects.get_for_model(Opportunity),
                                            external_id=external_id)
            .only("synced_snapshot", "remote_updated_at").first())
    if link is None or link.remote_updated_at is None or not link.synced_snapshot:
        return False
    if not dt.timedelta(0) <= delivered_at - link.remote_updated_at <= ECHO_WINDOW:
        return False
    location = connection.location_id

    def local_id(model, ghl_id):
        if not ghl_id:
            return None
        row = local_object_for_external_id(model=model, provider=PROVIDER, account_id=location, external_id=ghl_id)
        return row.pk if row is not None else -1

    summary = {"name": ((payload.get("name") or "").strip() or "(unnamed)")[:255],
               "stage": local_id(PipelineStage, payload.get("pipelineStageId")), "status": status_of(payload),
               "monetary_value": str(money(payload.get("monetaryValue"))),
               "contact": local_id(Contact, payload.get("contactId")),
               "assignee": local_id(CrmUser, payload.get("assignedTo"))}
    snapshot = link.synced_snapshot
    return all(snapshot.get(name) == value for name, value in summary.items())


def opportunity_apply_ghl_event(*, connection: GhlConnection, client: GhlClient, external_id: str, deleted: bool,
                                delivered_at: dt.datetime | None = None,
                                payload: dict[str, Any] | None = None) -> ApplyOutcome:
    """One Opportunity* webhook: read the opportunity's current state and apply it (see the module docstring)."""
    if deleted:
        return opportunity_archive_ghl(connection=connection, external_id=external_id, at=delivered_at,
                                       source=RemoteChange.Source.WEBHOOK)
    if payload is not None and _is_known_state(connection, external_id, payload, delivered_at):
        if not _read_after(connection, external_id, delivered_at):
            opportunity_confirm_schedule(connection=connection, external_id=external_id)
        return ApplyOutcome("echo", None)
    return opportunity_read_and_apply(connection=connection, client=client, external_id=external_id,
                                      at=delivered_at, source=RemoteChange.Source.WEBHOOK)


def opportunity_read_and_apply(*, connection: GhlConnection, client: GhlClient, external_id: str,
                               at: dt.datetime | None = None,
                               source: str = RemoteChange.Source.READ) -> ApplyOutcome:
    """Read the deal from GHL and apply that state (a 404 archives it); ``source``: what the history says (the
    webhook that rang, or a confirming read)."""
    read_at = time.time()
    try:
        doc = client.opportunities.get(external_id)
    except GhlNotFound:  # deleted since the event was sent: its OpportunityDelete says the same
        return opportunity_archive_ghl(connection=connection, external_id=external_id, at=at, source=source)
    outcome = opportunity_apply_ghl(connection=connection, doc=doc, resolver=OpportunityResolver(connection, client),
                                    source=source)
    opportunity_read_mark(connection=connection, external_id=external_id, started_at=read_at)
    return outcome


def _read_mark_key(connection_id: int, external_id: str) -> str:
    return f"ghl:opportunity-read:{connection_id}:{external_id}"


def opportunity_read_mark(*, connection: GhlConnection, external_id: str, started_at: float) -> None:
    """Remember that the deal's full state, as GHL held it when this read started, is the one we hold now."""
    try:
        cache.set(_read_mark_key(connection.pk, external_id), started_at, timeout=READ_MARK_SECONDS)
    except Exception as exc:  # without the mark the next echo only costs a confirming read
        logger.warning("ghl.opportunities.read-mark-failed", extra={
            "connection_id": connection.pk, "external_id": external_id, "error": f"{type(exc).__name__}: {exc}"})


def _read_after(connection: GhlConnection, external_id: str, delivered_at: dt.datetime) -> bool:
    """The event was sent before a read whose state we hold started, so that read saw whatever it announces
    (whichever field: the rest of a burst we read for, our own write's echo)."""
    try:
        started_at = cache.get(_read_mark_key(connection.pk, external_id))
    except Exception:  # unknown: confirm by reading
        return False
    return started_at is not None and delivered_at.timestamp() < started_at


def _confirm_slot(connection_id: int, external_id: str) -> str:
    return f"ghl:opportunity-confirm:{connection_id}:{external_id}"


def opportunity_confirm_schedule(*, connection: GhlConnection, external_id: str) -> bool:
    """Queue one read of the deal `CONFIRM_DELAY_SECONDS` from now, unless one is queued and has not started;
    True when this call queued it. A broker that refuses it is logged: the reconciliation reads the deal."""
    slot = _confirm_slot(connection.pk, external_id)
    try:
        if not cache.add(slot, 1, timeout=CONFIRM_SLOT_SECONDS):
            return False
    except Exception as exc:  # the cache is down: queue it anyway, unshared
        logger.warning("ghl.opportunities.confirm-slot-failed", extra={
            "connection_id": connection.pk, "external_id": external_id, "error": f"{type(exc).__name__}: {exc}"})
    from .tasks import opportunity_confirm_task  # the tasks module imports the sync, which imports this one

    def send() -> None:
        try:
            opportunity_confirm_task.apply_async((connection.pk, external_id), countdown=CONFIRM_DELAY_SECONDS)
        except Exception as exc:
            _forget(slot)
            logger.warning("ghl.opportunities.confirm-enqueue-failed", extra={
                "connection_id": connection.pk, "external_id": external_id, "error": f"{type(exc).__name__}: {exc}"})

    transaction.on_commit(send)
    return True


def opportunity_confirm(*, connection: GhlConnection, client: GhlClient, external_id: str) -> ApplyOutcome:
    """The queued read: frees the slot first (an event arriving during the read queues the next one), then reads
    and applies; an unchanged deal is stale by its ``updatedAt`` and writes nothing."""
    _forget(_confirm_slot(connection.pk, external_id))
    return opportunity_read_and_apply(connection=connection, client=client, external_id=external_id)


def _forget(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:  # noqa: S110 - the slot expires by itself
        pass
