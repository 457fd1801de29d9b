"""Whether a remote CRM already has a person before we create them here, as `crm` sees it.

The local mirror can miss a person the remote has (a webhook still in flight, a reconciliation not yet run).
A provider registers a finder from its ``AppConfig.ready()``::

    register_contact_remote_finder("ghl", ghl_contact_remote_find)

A finder is called as ``fn(organization=..., email=..., phone=...)`` (either may be ""). When the remote has
the person it brings them into the mirror (as its sync would) and returns the local `Contact`, else None. It may
raise `crm.remote_calls.RemoteUnavailable`.
"""
from collections.abc import Callable

from tenancy.models import Organization

from .models import Contact

ContactRemoteFinder = Callable[..., Contact | None]
_finders: dict[str, ContactRemoteFinder] = {}


def register_contact_remote_finder(key: str, fn: ContactRemoteFinder) -> None:
    if key in _finders and _finders[key] is not fn:
        raise ValueError(f"a contact remote finder is already registered for {key!r}")
    _finders[key] = fn


def contact_remote_find(*, organization: Organization, email: str = "", phone: str = "") -> Contact | None:
    """The person as some connected remote knows them (now mirrored here), or None. Providers in key order."""
    if not email and not phone:
        return None
    for key in sorted(_finders):
        found = _finders[key](organization=organization, email=email, phone=phone)
        if found is not None:
            return found
    return None
