"""Opportunities as the remote CRM reports them, applied here: ordered, merged field by field, announced.

The provider turns its record into a `RemoteOpportunity` (local rows already resolved) and calls
`opportunity_apply_from_remote`, which, with the link row locked:

* drops a state at or before the link's watermark (`remote_updated_at`): several webhooks for one edit carry
  one state, so the first applies and the rest are `stale`, in whatever order they come;
* takes the remote's value of every field, except a field with a local edit not yet pushed (an open outbox
  entry names it): there both sides changed since the last sync, and the account's conflict policy for
  opportunities decides (`crm.sync.conflict`, the ``opportunity`` kind's own policy rows); a remote win drops
  the field from the pending push;
* restores a row archived here that the remote still has, and announces stage and status changes
  (`crm.events`) once the transaction commits;
* records what it changed in the deal's sync history (`crm.sync.history.remote_change_note`, one `RemoteChange`
  in the same transaction, with the ``source`` the caller names: webhook, pull, reconciliation, sweep, read):
  created, or each field's old and new value (rows by id, the pipeline beside its stage, ``is_archived``), and
  the conflicts decided. A state that changes nothing (our own push's echo, the rest of a burst) records nothing.

Custom properties are compared, merged and snapshotted one key at a time (``custom_properties.<key>``, as the
field mapping names them): a remote state carries the keys its mapping fills (``None``: empty there), and keys
it does not carry are left as they are here.

Writes run under the remote's sync origin, so nothing here is pushed back to where it came from.
"""
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from tenancy.models import Organization

from .. import events
from ..models import Contact, CrmUser, ExternalIdentity, LostReason, Opportunity, Pipeline, PipelineStage
from ..sync.conflict import NO_BASE, policy_table_for, resolve_field
from ..sync.hashing import canonical
from ..sync.history import remote_change_note
from ..sync.kinds import OPPORTUNITY
from ..sync.mapping import CUSTOM_PREFIX, get_local_value
from ..sync.models import OutboxEntry, RemoteChange, SyncConflict
from ..sync.origin import sync_origin
from ..sync.outbox import outbox_discard_fields
from .external_ids import external_id_link

logger = logging.getLogger(__name__)

# The standard fields a remote opportunity carries, as compared and stored in the link's snapshot (ids for rows);
# custom properties come beside them, one ``custom_properties.<key>`` each.
STANDARD_FIELDS = ("name", "stage", "status", "monetary_value", "contact", "assignee", "lost_reason", "source")
# As the outbox names them: ``custom_properties`` stands for every mapped custom property.
SYNCED_FIELDS = (*STANDARD_FIELDS, "custom_properties")
LEGACY_CUSTOM = "custom_properties"  # snapshots written before custom properties were compared key by key
OPEN_ENTRY = (OutboxEntry.Status.PENDING, OutboxEntry.Status.FAILED, OutboxEntry.Status.IN_PROGRESS)
# What a deal's history row names beside the synced fields: the pipeline a stage move took it to, a restore.
HISTORY_EXTRA = ("pipeline", "is_archived")


@dataclass(frozen=True)
class RemoteOpportunity:
    external_id: str
    name: str
    pipeline: Pipeline
    stage: PipelineStage
    status: str
    monetary_value: Decimal
    contact: Contact | None = None
    assignee: CrmUser | None = None
    lost_reason: LostReason | None = None
    source: str = ""
    custom_properties: dict[str, Any] = field(default_factory=dict)  # {key: value or None (empty there)}
    updated_at: dt.datetime | None = None
    stage_changed_at: dt.datetime | None = None
    status_changed_at: dt.datetime | None = None
    currency: str = "USD"  # ISO 4217: the account's currency, which every amount of it is in


@dataclass(frozen=True)
class ApplyOutcome:
    outcome: str  # created | updated | unchanged | stale | archived | conflicted
    opportunity: Opportunity | None
    changed: tuple[str, ...] = ()


def _custom_value(value: Any) -> Any:
    value = canonical(value)
    return None if value in ("", [], {}) else value


def opportunity_values(opp: Opportunity, *, custom_keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The synced fields of a local opportunity in snapshot form (JSON: ids, money as a string), with its custom
    properties as ``custom_properties.<key>`` (those of ``custom_keys``, default: every one it holds)."""
    values = {"name": opp.name, "stage": opp.stage_id, "status": opp.status,
              "monetary_value": str(Decimal(opp.monetary_value).quantize(Decimal("0.01"))),
              "contact": opp.contact_id, "assignee": opp.assignee_id, "lost_reason": opp.lost_reason_id,
              "source": opp.source}
    held = opp.custom_properties or {}
    for key in (held if custom_keys is None else custom_keys):
        values[f"{CUSTOM_PREFIX}{key}"] = _custom_value(held.get(key))
    return values


def remote_opportunity_values(remote: RemoteOpportunity) -> dict[str, Any]:
    """A remote state in snapshot form (see `opportunity_values`)."""
    values = {"name": remote.name[:255], "stage": remote.stage.pk, "status": remote.status,
              "monetary_value": str(remote.monetary_value.quantize(Decimal("0.01"))),
              "contact": remote.contact.pk if remote.contact else None,
              "assignee": remote.assignee.pk if remote.assignee else None,
              "lost_reason": remote.lost_reason.pk if remote.lost_reason else None,
              "source": (remote.source or "")[:200]}
    for key, value in remote.custom_properties.items():
        values[f"{CUSTOM_PREFIX}{key}"] = _custom_value(value)
    return values


def opportunity_set_value(opp: Opportunity, name: str, value: Any) -> None:
    """Set one synced field (snapshot form) on the unsaved row: rows by id, a stage with its pipeline, a custom
    property by key (``None`` removes it)."""
    if name in ("stage", "contact", "assignee", "lost_reason"):
        setattr(opp, f"{name}_id", value)
        if name == "stage":
            opp.pipeline_id = PipelineStage.objects.values_list("pipeline_id", flat=True).get(pk=value)
    elif name == "monetary_value":
        opp.monetary_value = Decimal(value)
    elif name.startswith(CUSTOM_PREFIX):
        custom = dict(opp.custom_properties or {})
        key = name[len(CUSTOM_PREFIX):]
        if _custom_value(value) is None:
            custom.pop(key, None)
        else:
            custom[key] = canonical(value)
        opp.custom_properties = custom
    elif name == LEGACY_CUSTOM and isinstance(value, dict):
        opp.custom_properties = {**(opp.custom_properties or {}), **canonical(value)}
    else:
        setattr(opp, name, value)


_set = opportunity_set_value


def opportunity_write_values(opp: Opportunity, values: dict[str, Any]) -> set[str]:
    """Write synced fields (snapshot form) to a saved row and announce a stage or status change; returns the
    names that changed. The opportunity kind's ``update`` (a staff override of a recorded conflict uses it)."""
    with transaction.atomic():
        opp = Opportunity.objects.select_for_update().get(pk=opp.pk)
        keys = [n[len(CUSTOM_PREFIX):] for n in values if n.startswith(CUSTOM_PREFIX)]
        before = opportunity_values(opp, custom_keys=keys)
        for name, value in values.items():
            opportunity_set_value(opp, name, value)
        after = opportunity_values(opp, custom_keys=keys)
        changed = {name for name in after if after[name] != before[name]}
        if not changed:
            return set()
        now = timezone.now()
        if "stage" in changed:
            opp.stage_changed_at = now
        if "status" in changed:
            opp.status_changed_at = now
        opp.save()
        opportunity_announce_changes(opportunity=opp, before=before)
    return changed


def _link(provider: str, account_id: str, external_id: str) -> ExternalIdentity | None:
    ct = ContentType.objects.get_for_model(Opportunity)
    return (ExternalIdentity.objects.select_for_update()
            .filter(provider=provider, account_id=account_id, content_type=ct, external_id=external_id).first())


def _is_stale(link: ExternalIdentity | None, at: dt.datetime | None) -> bool:
    # "Equal" is stale: the state at the watermark has been applied already (another event of the same edit).
    return link is not None and at is not None and link.remote_updated_at is not None and at <= link.remote_updated_at


def _announce(opp: Opportunity, before: dict[str, Any], stage_names: dict[int, str]) -> None:
    if before["stage"] != opp.stage_id:
        events.emit(events.OPPORTUNITY_STAGE_CHANGED, organization_id=opp.organization_id, contact_id=opp.contact_id,
                    data={"opportunity_id": opp.pk, "pipeline_id": opp.pipeline_id, "from_stage_id": before["stage"],
                          "to_stage_id": opp.stage_id, "from_stage": stage_names.get(before["stage"], ""),
                          "to_stage": stage_names.get(opp.stage_id, "")})
    if before["status"] != opp.status:
        events.emit(events.OPPORTUNITY_STATUS_CHANGED, organization_id=opp.organization_id,
                    contact_id=opp.contact_id,
                    data={"opportunity_id": opp.pk, "from_status": before["status"], "to_status": opp.status})


def opportunity_announce_changes(*, opportunity: Opportunity, before: dict[str, Any]) -> None:
    """Emit the stage/status events for a change from ``before`` (`opportunity_values`) to the row as it is."""
    ids = [i for i in (before.get("stage"), opportunity.stage_id) if i]
    names = dict(PipelineStage.objects.filter(pk__in=ids).values_list("pk", "name"))
    _announce(opportunity, before, names)


def _pending_fields(opp: Opportunity, provider: str, account_id: str) -> dict[str, dt.datetime | None]:
    """Fields edited here and not yet pushed to this account, with when each was edited (None: unknown)."""
    ct = ContentType.objects.get_for_model(Opportunity)
    pending: dict[str, dt.datetime | None] = {}
    for fields, stamps in OutboxEntry.objects.filter(
            provider=provider, account_id=account_id, content_type=ct, object_id=opp.pk,
            status__in=OPEN_ENTRY).values_list("changed_fields", "field_changed_at"):
        for name in fields or []:
            stamp = (stamps or {}).get(name)
            pending[name] = dt.datetime.fromisoformat(stamp) if stamp else pending.get(name)
    return pending


_NOT_PENDING = object()


def _pending_edit(pending: dict[str, dt.datetime | None], name: str) -> Any:
    """When ``name`` was edited here and not pushed yet (None: unknown), or `_NOT_PENDING`. A pending
    ``custom_properties`` (every custom property, as a create or a repair queues them) covers each key."""
    if name in pending:
        return pending[name]
    if name.startswith(CUSTOM_PREFIX) and LEGACY_CUSTOM in pending:
        return pending[LEGACY_CUSTOM]
    return _NOT_PENDING


def _base_of(link: ExternalIdentity) -> dict[str, Any]:
    """The link's snapshot with custom properties by key (a snapshot from before that holds them as one dict)."""
    base = dict(link.synced_snapshot or {})
    legacy = base.pop(LEGACY_CUSTOM, None)
    if isinstance(legacy, dict):
        for key, value in legacy.items():
            base.setdefault(f"{CUSTOM_PREFIX}{key}", _custom_value(value))
    return base


def opportunity_apply_from_remote(*, organization: Organization, provider: str, account_id: str,
                                  remote: RemoteOpportunity, connection_id: int | None = None,
                                  source: str = RemoteChange.Source.READ) -> ApplyOutcome:
    """Apply one remote state (see the module docstring). Safe to call again with the same state. ``source``
    (a `RemoteChange.Source`) is what the deal's history says the state came by."""
    values = remote_opportunity_values(remote)
    history_names = (*values, *HISTORY_EXTRA)
    with transaction.atomic(), sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
        link = _link(provider, account_id, remote.external_id)
        if _is_stale(link, remote.updated_at):
            return ApplyOutcome("stale", None)
        opp, twin = None, None
        if link is not None:
            opp = Opportunity.objects.for_org(organization).select_for_update().filter(pk=link.object_id).first()
        else:
            opp = twin = _unlinked_twin(organization, provider, account_id, remote)
            if opp is not None:  # made here, its push not linked yet (or the demo seed): the same deal
                link = external_id_link(obj=opp, provider=provider, account_id=account_id,
                                        external_id=remote.external_id, connection_id=connection_id)
        now = timezone.now()
        if opp is None:
            opp = Opportunity(organization=organization, pipeline=remote.pipeline, currency=remote.currency.upper()[:3])
            for name, value in values.items():
                _set(opp, name, value)
            opp.stage_changed_at = remote.stage_changed_at or now
            opp.status_changed_at = remote.status_changed_at or now
            opp.save()
            if link is None:
                link = external_id_link(obj=opp, provider=provider, account_id=account_id,
                                        external_id=remote.external_id, connection_id=connection_id)
            else:  # the local row is gone (cannot happen through services): relink to the new one
                link.object_id = opp.pk
            _mark_synced(link, values, remote.updated_at, connection_id)
            _note(opp, link, before={}, names=(*values, "pipeline"), source=source, at=remote.updated_at,
                  outcome=RemoteChange.Outcome.CREATED)
            return ApplyOutcome("created", opp, tuple(values))
        before = opportunity_values(opp, custom_keys=remote.custom_properties)
        history_before = {name: canonical(get_local_value(opp, name)) for name in history_names}
        base = _base_of(link)
        pending = _pending_fields(opp, provider, account_id)
        policies = policy_table_for(organization=organization, provider=provider, account_id=account_id,
                                    object_type=OPPORTUNITY)
        final = dict(before)
        remote_won: list[str] = []
        conflicts: list[SyncConflict] = []
        for name, remote_value in values.items():
            edited = _pending_edit(pending, name)
            if edited is _NOT_PENDING:
                final[name] = remote_value
                continue
            decision = resolve_field(field=name, base=base.get(name, NO_BASE), local=before[name],
                                     local_changed_at=edited, remote=remote_value,
                                     remote_changed_at=remote.updated_at, policy=policies.policy_for(name))
            final[name] = decision.value
            if decision.winner == "remote":
                remote_won.append(name)
            if decision.conflict:
                conflicts.append(_record_conflict(opp, provider, account_id, remote.external_id, name,
                                                  base.get(name), before[name], remote_value, decision, edited,
                                                  remote.updated_at))
        changed = tuple(name for name in values if final[name] != before[name])
        for name in changed:
            _set(opp, name, final[name])
        if "stage" in changed:
            opp.stage_changed_at = remote.stage_changed_at or now
        if "status" in changed:
            opp.status_changed_at = remote.status_changed_at or now
        restored = opp.is_archived
        if restored:
            opp.is_archived, opp.archived_at = False, None
        if changed or restored:
            opp.save()
            opportunity_announce_changes(opportunity=opp, before=before)
        if remote_won:
            outbox_discard_fields(obj=opp, fields=remote_won, target=(provider, account_id))
        # The base of the next merge is what both sides agree on now: the remote's values where they won.
        agreed = {name: values[name] for name in values if final[name] == values[name]}
        _mark_synced(link, {**base, **agreed}, remote.updated_at, connection_id)
        # Linked to a deal made here (our create's echo, the demo seed): recorded only if the remote changed it.
        _note(opp, link, before=history_before, names=history_names, source=source, at=remote.updated_at,
              conflicts=conflicts,
              outcome=RemoteChange.Outcome.LINKED if twin is not None else RemoteChange.Outcome.UPDATED)
    if conflicts:
        return ApplyOutcome("conflicted", opp, changed)
    return ApplyOutcome("updated" if changed or restored else "unchanged", opp, changed)


def _unlinked_twin(organization: Organization, provider: str, account_id: str,
                   remote: RemoteOpportunity) -> Opportunity | None:
    """A local deal with no link to this account, for the same contact, pipeline and name: the echo of our own
    create (its webhook can come before the push has stored the id) is that deal, not a second one. GHL itself
    refuses two deals of one contact in one pipeline, so this cannot join two different deals."""
    if remote.contact is None:
        return None
    ct = ContentType.objects.get_for_model(Opportunity)
    linked = ExternalIdentity.objects.filter(provider=provider, account_id=account_id, content_type=ct,
                                             object_id=OuterRef("pk"))
    return (Opportunity.objects.for_org(organization).select_for_update()
            .filter(contact=remote.contact, pipeline=remote.pipeline, name__iexact=remote.name.strip())
            .filter(~Exists(linked)).order_by("id").first())


def _mark_synced(link: ExternalIdentity, snapshot: dict, at: dt.datetime | None, connection_id: int | None) -> None:
    link.synced_snapshot = snapshot
    link.last_synced_at = timezone.now()
    if at is not None and (link.remote_updated_at is None or at > link.remote_updated_at):
        link.remote_updated_at = at
    if connection_id is not None:
        link.connection_id = connection_id
    link.save()


def _note(opp: Opportunity, link: ExternalIdentity, *, before: dict[str, Any], names: Iterable[str], source: str,
          at: dt.datetime | None, outcome: str = RemoteChange.Outcome.UPDATED, conflicts: Iterable = ()) -> None:
    """The deal's history row of this apply (nothing when no value moved and no conflict was decided)."""
    remote_change_note(obj=opp, provider=link.provider, account_id=link.account_id,
                       content_type=ContentType.objects.get_for_model(Opportunity), external_id=link.external_id,
                       before=before, names=names, conflicts=conflicts, source=source, remote_updated_at=at,
                       outcome=outcome)


def _record_conflict(opp, provider, account_id, external_id, name, base, local, remote, decision, local_at,
                     remote_at) -> SyncConflict:
    return SyncConflict.objects.create(
        organization_id=opp.organization_id, provider=provider, account_id=account_id,
        content_type=ContentType.objects.get_for_model(Opportunity), object_id=opp.pk, external_id=external_id,
        field=name, base_value=base, local_value=local, remote_value=remote, applied_value=decision.value,
        local_changed_at=local_at, remote_changed_at=remote_at, policy=decision.policy,
        decision={"local": SyncConflict.Decision.LOCAL, "remote": SyncConflict.Decision.REMOTE}.get(
            decision.winner, SyncConflict.Decision.MERGED))


def opportunity_archive_from_remote(*, organization: Organization, provider: str, account_id: str, external_id: str,
                                    at: dt.datetime | None = None, connection_id: int | None = None,
                                    source: str = RemoteChange.Source.READ) -> ApplyOutcome:
    """The remote deleted it: archive the linked row (kept with its stage and history; the archive recorded in
    it, as having come by ``source``). Unknown ids: nothing."""
    with transaction.atomic(), sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
        link = _link(provider, account_id, external_id)
        if link is None:
            return ApplyOutcome("unchanged", None)
        opp = Opportunity.objects.for_org(organization).select_for_update().filter(pk=link.object_id).first()
        if opp is None or opp.is_archived:
            return ApplyOutcome("unchanged", opp)
        opp.is_archived, opp.archived_at = True, timezone.now()
        opp.save(update_fields=["is_archived", "archived_at", "updated_at"])
        if at is not None and (link.remote_updated_at is None or at > link.remote_updated_at):
            link.remote_updated_at = at
            link.save(update_fields=["remote_updated_at", "updated_at"])
        _note(opp, link, before={"is_archived": False}, names=("is_archived",), source=source, at=at,
              outcome=RemoteChange.Outcome.ARCHIVED)
    logger.info("crm.opportunity.archived-remote", extra={"opportunity_id": opp.pk, "external_id": external_id})
    return ApplyOutcome("archived", opp)
