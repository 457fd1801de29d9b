"""Conflict rules in one place: the per-field policy table and one pure function that picks the winner.

A *conflict* is a field that both sides changed since the last sync (three-way: base = the value at the
last sync, stored in `ExternalIdentity.synced_snapshot`). When only one side changed, that side wins and
no conflict is recorded. Inbound apply and outbound push both call `resolve_field`.
"""
import datetime as dt
from dataclasses import dataclass
from typing import Any

from tenancy.models import Organization

from .hashing import canonical, values_equal
from .kinds import CONTACT, kind_named
from .models import ConflictPolicy, ConflictPolicyChoice

Policy = ConflictPolicyChoice
WILDCARD = "*"
DEFAULT_POLICY = Policy.NEWEST_WINS
# List-valued fields merge as sets by default: a tag added in GHL and another added locally both survive.
DEFAULT_FIELD_POLICIES: dict[str, str] = {
    "tags": Policy.MERGE_SETS,
    "additional_emails": Policy.MERGE_SETS,
    "additional_phones": Policy.MERGE_SETS,
}
NO_BASE = object()  # the field was never synced: there is no common ancestor


@dataclass(frozen=True)
class Resolution:
    value: Any
    winner: str  # "local" | "remote" | "merged" | "same"
    conflict: bool  # both sides changed (or, with no base, both hold different non-empty values)
    policy: str = ""


def _empty(value: Any) -> bool:
    # A flag's False is its default, not a choice: never synced, it takes the other side's True. This is what
    # keeps a DND flag set on either side (an opt-out) from being a conflict the other side's default can win.
    return value is False or value in (None, "", [], {})


def _merge_sets(base: Any, local: list, remote: list) -> list:
    base_set = set(base or []) if base is not NO_BASE else set()
    local, remote = list(local or []), list(remote or [])
    removed = (base_set - set(local)) | (base_set - set(remote)) if base is not NO_BASE else set()
    merged: dict[Any, None] = {}
    for item in [*local, *remote]:
        if item not in removed:
            merged.setdefault(item, None)
    return list(merged)


def resolve_field(
    *,
    field: str,
    base: Any,
    local: Any,
    local_changed_at: dt.datetime | None,
    remote: Any,
    remote_changed_at: dt.datetime | None,
    policy: str,
) -> Resolution:
    """Decide one field. Pure: no I/O. ``base`` is `NO_BASE` when the field was never synced.

    - equal values → "same"; only remote changed → remote; only local changed → local;
    - never synced: an empty side (None, "", [], {}, a flag's False) takes the other's value without a conflict;
    - both changed → ``policy``: ``remote_wins``, ``local_wins``, ``merge_sets`` (three-way set merge; for
      non-lists it falls back to newest), ``newest_wins`` (later timestamp wins; a missing remote
      timestamp counts as "now", since the event is arriving now; ties go to the remote).
    """
    if values_equal(field, local, remote):
        return Resolution(local, "same", False, policy)
    if base is not NO_BASE:
        if values_equal(field, local, base):
            return Resolution(remote, "remote", False, policy)
        if values_equal(field, remote, base):
            return Resolution(local, "local", False, policy)
    else:
        if _empty(local):
            return Resolution(remote, "remote", False, policy)
        if _empty(remote):
            return Resolution(local, "local", False, policy)
    if policy == Policy.REMOTE_WINS:
        return Resolution(remote, "remote", True, policy)
    if policy == Policy.LOCAL_WINS:
        return Resolution(local, "local", True, policy)
    if policy == Policy.MERGE_SETS and isinstance(local or [], list) and isinstance(remote or [], list):
        merged = _merge_sets(base, local, remote)
        if values_equal(field, merged, remote):
            return Resolution(remote, "remote", True, policy)
        if values_equal(field, merged, local):
            return Resolution(local, "local", True, policy)
        return Resolution(merged, "merged", True, policy)
    # newest_wins (and merge_sets on a non-list)
    remote_at = remote_changed_at or dt.datetime.max.replace(tzinfo=dt.UTC)
    if local_changed_at is not None and local_changed_at > remote_at:
        return Resolution(local, "local", True, policy)
    return Resolution(remote, "remote", True, policy)


class PolicyTable:
    """Per-field policies for one account: explicit rows, then the ``*`` row, then the defaults."""

    def __init__(self, rows: dict[str, str], *, defaults: dict[str, str] | None = None):
        self.rows = rows
        self.defaults = DEFAULT_FIELD_POLICIES if defaults is None else defaults

    def policy_for(self, field: str) -> str:
        if field in self.rows:
            return self.rows[field]
        if field in self.defaults:
            return self.defaults[field]
        return self.rows.get(WILDCARD, DEFAULT_POLICY)


def policy_table_for(*, organization: Organization | int, provider: str, account_id: str,
                     object_type: str = CONTACT) -> PolicyTable:
    """The policies of one kind of record (``object_type``) for one account; one query."""
    rows = ConflictPolicy.objects.for_org(organization).filter(provider=provider, account_id=account_id,
                                                               object_type=object_type)
    return PolicyTable({r.field: r.policy for r in rows}, defaults=_kind_field_policies(object_type))


def _kind_field_policies(object_type: str) -> dict[str, str]:
    try:
        return kind_named(object_type).field_policies
    except LookupError:  # a kind whose engine declaration has not landed: the contact defaults, as before
        return DEFAULT_FIELD_POLICIES


def conflict_policy_set(*, organization: Organization, provider: str, account_id: str, field: str,
                        policy: str, object_type: str = CONTACT) -> ConflictPolicy:
    """Set the policy for ``field`` of ``object_type`` records (or ``*`` for that kind's default)."""
    if policy not in Policy.values:
        raise ValueError(f"unknown conflict policy {policy!r}")
    row, _ = ConflictPolicy.objects.update_or_create(
        organization=organization, provider=provider, account_id=account_id, object_type=object_type, field=field,
        defaults={"policy": policy},
    )
    return row


__all__ = ["NO_BASE", "PolicyTable", "Resolution", "canonical", "conflict_policy_set", "policy_table_for",
           "resolve_field"]
