"""Outbound: the conflict check a push worker runs just before it writes to the remote.

A local change is queued in the outbox; by the time the worker pushes it, someone may have changed the
same field in the remote (its webhook not yet applied). The worker reads the remote record and calls
`contact_prepare_push` with its values (local names, from `Mapping.to_local`): each queued field is decided
three-way (base = the link's `synced_snapshot`) by the account's conflict policy, exactly as inbound apply
does, so the result does not depend on which side's event is processed first. Generic over kinds
(`record_prepare_push`, `record_apply_pushed_result`, `record_rejected_value`); the ``contact_*`` names are
the contact kind's.
"""
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from ..models import ExternalIdentity
from .conflict import NO_BASE, policy_table_for, resolve_field
from .hashing import canonical, values_equal
from .history import remote_change_note
from .kinds import SyncKind, kind_for_model
from .mapping import get_local_value
from .models import SyncConflict
from .origin import sync_origin
from .selectors import local_edit_times

logger = logging.getLogger(__name__)

DECISIONS = {"local": SyncConflict.Decision.LOCAL, "remote": SyncConflict.Decision.REMOTE}


@dataclass
class PushPlan:
    push_fields: list[str] = field(default_factory=list)  # local values that still go to the remote
    remote_won: dict[str, Any] = field(default_factory=dict)  # written locally instead of pushed
    conflicts: list[SyncConflict] = field(default_factory=list)


def _kind_of(obj: models.Model) -> SyncKind:
    kind = kind_for_model(obj)
    if kind is None:
        raise ValueError(f"{obj._meta.label} is not a kind of record the sync engine knows")
    return kind


def record_prepare_push(
    *,
    obj: models.Model,
    provider: str,
    account_id: str,
    connection_id: int | None,
    fields: list[str],
    remote: dict[str, Any],
    remote_changed_at: dt.datetime | None = None,
) -> PushPlan:
    """Decide which of ``fields`` (local names) to push, given the remote's current values ``remote``.

    Fields absent from ``remote`` are pushed. For the others: only local changed → pushed; only the remote
    changed, or the remote won the conflict → the remote value is written locally (under the account's
    sync origin, so it is not queued back) and not pushed; merged (sets) → written locally and pushed.
    Every field both sides changed is recorded as a `SyncConflict`. Must be called by a push worker for a
    linked record; returns the plan, never calls the remote.
    """
    plan = PushPlan()
    contact, kind = obj, _kind_of(obj)
    content_type = ContentType.objects.get_for_model(kind.model, for_concrete_model=True)
    with transaction.atomic():
        # Same lock order as inbound apply (link, then contact): the echo of the previous push may be
        # applied while this one is prepared.
        link = ExternalIdentity.objects.select_for_update().filter(
            provider=provider, account_id=account_id, content_type=content_type, object_id=contact.pk,
        ).first()
        contact = kind.model._default_manager.select_for_update().get(pk=contact.pk)
        snapshot = dict(link.synced_snapshot or {}) if link else {}
        policies = policy_table_for(organization=contact.organization_id, provider=provider, account_id=account_id,
                                    object_type=kind.name)
        edit_times = local_edit_times(obj=contact, provider=provider, account_id=account_id,
                                      content_type=content_type)
        writes: dict[str, Any] = {}
        for name in fields:
            if name not in remote:
                plan.push_fields.append(name)
                continue
            local_changed_at = edit_times.changed_at(name)
            local_value = canonical(get_local_value(contact, name))
            remote_value = canonical(remote[name])
            base = snapshot.get(name, NO_BASE)
            res = resolve_field(field=name, base=base, local=local_value, local_changed_at=local_changed_at,
                                remote=remote_value, remote_changed_at=remote_changed_at,
                                policy=policies.policy_for(name))
            if res.winner in ("remote", "merged"):
                writes[name] = res.value
            if res.winner in ("local", "merged"):
                plan.push_fields.append(name)
            if res.winner == "remote":
                plan.remote_won[name] = res.value
            if res.winner in ("same", "remote"):
                snapshot[name] = canonical(res.value)  # both sides now hold it: the next merge's base
            if res.conflict:
                plan.conflicts.append(SyncConflict(
                    organization_id=contact.organization_id, provider=provider, account_id=account_id,
                    content_type=content_type, object_id=contact.pk, external_id=link.external_id if link else "",
                    field=name, base_value=None if base is NO_BASE else base, local_value=local_value,
                    remote_value=remote_value, applied_value=canonical(res.value),
                    local_changed_at=local_changed_at, remote_changed_at=remote_changed_at, policy=res.policy,
                    decision=DECISIONS.get(res.winner, SyncConflict.Decision.MERGED),
                ))
        if writes:
            before = {name: canonical(get_local_value(contact, name)) for name in writes}
            with sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
                kind.update(contact, writes)
        if writes or plan.conflicts:
            remote_change_note(obj=contact, provider=provider, account_id=account_id, content_type=content_type,
                               external_id=link.external_id if link else "", before=before if writes else {},
                               names=writes, conflicts=plan.conflicts, remote_updated_at=remote_changed_at)
        if plan.conflicts:
            SyncConflict.objects.bulk_create(plan.conflicts)
            logger.info("crm.sync.outbound-conflicts",
                        extra={"object_type": kind.name, "object_id": contact.pk,
                               "fields": [c.field for c in plan.conflicts]})
        if link is not None and snapshot != (link.synced_snapshot or {}):
            link.synced_snapshot = snapshot
            link.save(update_fields=["synced_snapshot", "updated_at"])
    return plan


def record_apply_pushed_result(*, obj: models.Model, provider: str, account_id: str, connection_id: int | None,
                               values: dict[str, Any]) -> set[str]:
    """Write values the remote reported after a push (e.g. the merged tag list) without queueing them back."""
    kind = _kind_of(obj)
    with transaction.atomic(), sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
        obj = kind.model._default_manager.select_for_update().get(pk=obj.pk)
        return kind.update(obj, values)


def record_take_remote_only_changes(*, obj: models.Model, provider: str, account_id: str,
                                    connection_id: int | None, remote: dict[str, Any],
                                    exclude: set[str]) -> dict[str, Any]:
    """Write locally the values of ``remote`` (the record as the remote returned it after our write, local
    names) that only the remote changed since the last sync: the local value is still the link's snapshot
    and the remote's differs. A field changed on both sides, or outside the snapshot, is left to the next
    event or reconciliation, as are ``exclude`` (what we just pushed). Returns what was written.

    Why: the response may carry a remote edit whose webhook has not reached us; that webhook, stamped before
    our write, would then be dropped as stale, and the edit lost here."""
    kind = _kind_of(obj)
    content_type = ContentType.objects.get_for_model(kind.model, for_concrete_model=True)
    with transaction.atomic():
        link = ExternalIdentity.objects.select_for_update().filter(
            provider=provider, account_id=account_id, content_type=content_type, object_id=obj.pk,
        ).first()
        if link is None:
            return {}
        obj = kind.model._default_manager.select_for_update().get(pk=obj.pk)
        snapshot = link.synced_snapshot or {}
        taken: dict[str, Any] = {}
        for name, value in remote.items():
            if name in exclude or name not in snapshot:
                continue
            local = canonical(get_local_value(obj, name))
            if values_equal(name, local, snapshot[name]) and not values_equal(name, canonical(value), local):
                taken[name] = value
        if taken:
            before = {name: canonical(get_local_value(obj, name)) for name in taken}
            with sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
                kind.update(obj, taken)
            remote_change_note(obj=obj, provider=provider, account_id=account_id, content_type=content_type,
                               external_id=link.external_id, before=before, names=taken)
            link.synced_snapshot = {**snapshot, **canonical(taken)}
            link.save(update_fields=["synced_snapshot", "updated_at"])
            logger.info("crm.sync.outbound-remote-changes-taken",
                        extra={"object_type": kind.name, "object_id": obj.pk, "fields": sorted(taken)})
    return taken


def record_rejected_value(*, obj: models.Model, provider: str, account_id: str, external_id: str, field: str,
                          local_value: Any, remote_value: Any) -> SyncConflict:
    """Record that the remote kept its own value of ``field`` although we pushed ours (it ignored it).

    The local value stays; the conflict shows both values in admin, where staff can apply either side.
    """
    contact, kind = obj, _kind_of(obj)
    content_type = ContentType.objects.get_for_model(kind.model, for_concrete_model=True)
    policy = policy_table_for(organization=contact.organization_id, provider=provider, account_id=account_id,
                              object_type=kind.name).policy_for(field)
    return SyncConflict.objects.create(
        organization_id=contact.organization_id, provider=provider, account_id=account_id,
        content_type=content_type, object_id=contact.pk, external_id=external_id, field=field,
        base_value=None, local_value=canonical(local_value), remote_value=canonical(remote_value),
        applied_value=canonical(local_value), policy=policy, decision=SyncConflict.Decision.LOCAL,
    )


def contact_prepare_push(*, contact, **kwargs: Any) -> PushPlan:
    """`record_prepare_push` for a contact."""
    return record_prepare_push(obj=contact, **kwargs)


def contact_apply_pushed_result(*, contact, **kwargs: Any) -> set[str]:
    """`record_apply_pushed_result` for a contact."""
    return record_apply_pushed_result(obj=contact, **kwargs)


def contact_take_remote_only_changes(*, contact, **kwargs: Any) -> dict[str, Any]:
    """`record_take_remote_only_changes` for a contact."""
    return record_take_remote_only_changes(obj=contact, **kwargs)


def contact_record_rejected_value(*, contact, **kwargs: Any) -> SyncConflict:
    """`record_rejected_value` for a contact."""
    return record_rejected_value(obj=contact, **kwargs)
