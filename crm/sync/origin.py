"""Where a write came from: `SyncOrigin` in a contextvar (echo suppression, part 1).

Every write that applies a change received from a remote system runs inside
``with sync_origin(provider=..., account_id=..., connection_id=...):``. The outbox reads the current
origin and does not queue a push back to that same (provider, account_id): a GHL edit is never pushed
back to the GHL location it came from, while other accounts still receive it.
"""
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class SyncOrigin:
    provider: str
    account_id: str
    connection_id: int | None = None

    @property
    def target(self) -> tuple[str, str]:
        return (self.provider, self.account_id)


_current: ContextVar[SyncOrigin | None] = ContextVar("crm_sync_origin", default=None)


def current_origin() -> SyncOrigin | None:
    """The origin of the writes being made now, or None for a local change (user, agent, admin)."""
    return _current.get()


@contextmanager
def sync_origin(*, provider: str, account_id: str, connection_id: int | None = None) -> Iterator[SyncOrigin]:
    """Mark every write inside the block as coming from ``(provider, account_id)``. Nests; restores on exit."""
    origin = SyncOrigin(provider=provider, account_id=str(account_id), connection_id=connection_id)
    token = _current.set(origin)
    try:
        yield origin
    finally:
        _current.reset(token)
