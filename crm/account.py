"""The CRM account an organisation works in (for GHL: its location), as `crm` sees it.

`crm` knows no provider: a provider registers a finder from its ``AppConfig.ready()``::

    register_account_finder("ghl", ghl_account_for)

A finder is called as ``fn(organization)`` and **must** return the organisation's `CrmAccount` with that
provider (its connected account, else the last one it had, ``connected=False``), or None when it never had one.
It reads only what is stored (no request to the provider, no write), so a tool may call it on every read.
"""
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

CONNECTED = "connected"
NOT_CONNECTED = "not_connected"


@dataclass(frozen=True)
class CrmAccount:
    provider: str
    account_id: str
    name: str
    connected: bool
    status: str  # the provider's own word for the connection: active, needs_reauthorization, disconnected, ...
    timezone: str = ""  # the account's IANA zone ("" when the provider has not told us)
    connected_at: datetime | None = None
    # Up to when a reconciliation has confirmed that the mirror holds every message the account had (webhooks
    # bring newer ones within seconds); None before the first one.
    messages_checked_at: datetime | None = None

    @property
    def connection(self) -> str:
        return CONNECTED if self.connected else NOT_CONNECTED


AccountFinder = Callable[[object], CrmAccount | None]
_finders: dict[str, AccountFinder] = {}


def register_account_finder(key: str, fn: AccountFinder) -> None:
    if key in _finders and _finders[key] is not fn:
        raise ValueError(f"An account finder is already registered under {key!r}")
    _finders[key] = fn


def unregister_account_finder(key: str) -> None:
    _finders.pop(key, None)


def crm_account_for(organization) -> CrmAccount | None:
    """The organisation's connected account (providers in key order), else the first one it had, else None."""
    found = [account for key in sorted(_finders) if (account := _finders[key](organization)) is not None]
    return next((a for a in found if a.connected), found[0] if found else None)
