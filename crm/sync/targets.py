"""Which external accounts an organisation pushes local changes to.

`crm` knows no provider, so providers register a resolver here (from their ``AppConfig.ready()``)::

    register_target_resolver("ghl", ghl_outbound_targets)

A resolver is called as ``fn(organization_id)`` inside the writing transaction and **must** return a
list of ``(provider, account_id)`` pairs: the accounts whose outbound sync is switched on right now
(for GHL: the active connections' location ids with ``outbound_contacts`` enabled). It must be cheap
(one indexed query) and must not write. No resolver registered → no outbox rows.
"""
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
