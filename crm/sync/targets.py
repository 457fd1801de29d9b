"""Which external accounts an organisation pushes local changes to.

`crm` knows no provider, so providers register a resolver here (from their ``AppConfig.ready()``)::

    register_target_resolver("ghl", ghl_outbound_targets)

A resolver is called as ``fn(organization_id)`` inside the writing transaction and **must** return a
list of ``(provider, account_id)`` pairs: the accounts whose outbound sync is switched on right now
(for GHL: the active connections' location ids with ``outbound_contacts`` enabled). It must be cheap
(one indexed query) and must not write. No resolver registered → no outbox rows.
"""
import threading
import time
from collections.abc import Callable

TargetResolver = Callable[[int], list[tuple[str, str]]]

_resolvers: dict[str, TargetResolver] = {}


def register_target_resolver(key: str, fn: TargetResolver) -> None:
    """Register ``fn`` under ``key`` (usually the provider name). Registering a key twice raises."""
    if key in _resolvers:
        raise ValueError(f"A sync target resolver is already registered under {key!r}")
    _resolvers[key] = fn


def unregister_target_resolver(key: str) -> None:
    _resolvers.pop(key, None)


def sync_targets_for(organization_id: int) -> list[tuple[str, str]]:
    """Every (provider, account_id) the organisation pushes to, de-duplicated, in a stable order."""
    seen: dict[tuple[str, str], None] = {}
    for fn in list(_resolvers.values()):
        for provider, account_id in fn(organization_id) or []:
            seen.setdefault((str(provider), str(account_id)), None)
    return list(seen)


class SyncTargetsCache:
    """`sync_targets_for` one organisation, read again once ``max_age`` seconds have passed.

    For a run that writes pages several times a second (an initial pull): the resolver's query on every page
    cost more CPU than the page's own lookups. A connection added or removed meanwhile shows within
    ``max_age``; the pull itself notices its own disconnect within the same time.
    """

    def __init__(self, organization_id: int, *, max_age: float):
        self.organization_id, self.max_age = organization_id, max_age
        self._targets: list[tuple[str, str]] = []
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> list[tuple[str, str]]:
        with self._lock:  # a pull's writer threads share one cache
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= self.max_age:
                self._targets, self._read_at = sync_targets_for(self.organization_id), now
            return list(self._targets)
