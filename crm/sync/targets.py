"""Which external accounts an organisation pushes local changes of one kind of record to.

`crm` knows no provider, so providers register a resolver per kind here (from their ``AppConfig.ready()``)::

    register_target_resolver("ghl", ghl_contact_sync_targets)                       # object_type="contact"
    register_target_resolver("ghl", ghl_opportunity_sync_targets, object_type="opportunity")

A resolver is called as ``fn(organization_id)`` inside the writing transaction and **must** return a
list of ``(provider, account_id)`` pairs: the accounts whose outbound sync of that kind is switched on right
now (for GHL contacts: the active connections' location ids with ``outbound_contacts`` enabled). It must be
cheap (one indexed query) and must not write. No resolver registered for a kind → no outbox rows for it.
"""
import threading
import time
from collections.abc import Callable

from .kinds import CONTACT

TargetResolver = Callable[[int], list[tuple[str, str]]]

# key (usually the provider name) → object_type → resolver
_resolvers: dict[str, dict[str, TargetResolver]] = {}


def register_target_resolver(key: str, fn: TargetResolver, *, object_type: str = CONTACT) -> None:
    """Register ``fn`` under ``key`` for records of ``object_type``. Registering a pair twice raises."""
    by_kind = _resolvers.setdefault(key, {})
    if object_type in by_kind:
        raise ValueError(f"A sync target resolver is already registered under {key!r} for {object_type!r}")
    by_kind[object_type] = fn


def unregister_target_resolver(key: str, *, object_type: str | None = None) -> None:
    """Remove ``key``'s resolver for ``object_type``, or all of ``key``'s resolvers when it is None."""
    if object_type is None:
        _resolvers.pop(key, None)
        return
    by_kind = _resolvers.get(key, {})
    by_kind.pop(object_type, None)
    if not by_kind:
        _resolvers.pop(key, None)


def sync_targets_for(organization_id: int, *, object_type: str = CONTACT) -> list[tuple[str, str]]:
    """Every (provider, account_id) the organisation pushes records of ``object_type`` to, de-duplicated,
    in a stable order."""
    seen: dict[tuple[str, str], None] = {}
    for by_kind in list(_resolvers.values()):
        fn = by_kind.get(object_type)
        if fn is None:
            continue
        for provider, account_id in fn(organization_id) or []:
            seen.setdefault((str(provider), str(account_id)), None)
    return list(seen)


class SyncTargetsCache:
    """`sync_targets_for` one organisation, read again once ``max_age`` seconds have passed.

    For a run that writes pages several times a second (an initial pull): the resolver's query on every page
    cost more CPU than the page's own lookups. A connection added or removed meanwhile shows within
    ``max_age``; the pull itself notices its own disconnect within the same time.
    """

    def __init__(self, organization_id: int, *, max_age: float, object_type: str = CONTACT):
        self.organization_id, self.max_age, self.object_type = organization_id, max_age, object_type
        self._targets: list[tuple[str, str]] = []
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> list[tuple[str, str]]:
        with self._lock:  # a pull's writer threads share one cache
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self.max_age:
                self._targets, self._read_at = sync_targets_for(
                    self.organization_id, object_type=self.object_type), now
            return list(self._targets)
