"""The calendar system that owns a calendar's bookings (GHL for a mirrored calendar), as `crm` sees it.

`crm` knows no provider, so a provider registers a resolver from its ``AppConfig.ready()``::

    register_calendar_backend("ghl", ghl_calendar_backend_for)

A resolver is called as ``fn(calendar)`` and **must** return a `CalendarBackend` bound to that calendar when it
owns it (an active connection to the account the calendar is linked to), else None. It must not write.
"""
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .models import Calendar, Contact


@dataclass(frozen=True)
class RemoteAppointment:
    external_id: str
    contact_external_id: str
    starts_at: datetime
    ends_at: datetime
    status: str
    title: str = ""
    notes: str | None = ""  # None: the source does not carry notes (leave ours as they are)
    address: str = ""
    updated_at: datetime | None = None  # the backend's own last-change time: the sync watermark
    # When this state was observed: a webhook's delivery time, or when the read was requested (orders two reports
    # of the same `updated_at`, which backends keep to the second).
    observed_at: datetime | None = None


class BackendError(Exception):
    """The backend could not answer (network, 5xx, rate limit, auth): the command may be retried later."""


class BackendSlotTaken(Exception):
    """The backend refused the time because it is not (or no longer) a free slot."""


class BackendRejected(Exception):
    """The backend refused the request for another reason (validation); ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CalendarBackend(ABC):
    """One calendar's bookings in the system that owns them. Times are aware datetimes."""

    provider: str
    account_id: str
    connection_id: int | None = None

    @abstractmethod
    def free_slots(self, *, start: datetime, end: datetime) -> list[datetime]:
        """Free slot starts in [start, end) (any span: the backend splits what its API limits), ascending."""

    @abstractmethod
    def contact_external_id(self, contact: Contact) -> str | None:
        """The contact's id in the backend, or None when it is not there (yet)."""

    @abstractmethod
    def appointments_between(self, *, start: datetime, end: datetime) -> list[RemoteAppointment]:
        """The calendar's appointments overlapping [start, end), cancelled ones included."""

    @abstractmethod
    def appointment_get(self, external_id: str) -> RemoteAppointment | None:
        """The appointment, or None when the backend no longer has it."""

    @abstractmethod
    def appointment_create(
        self, *, contact_external_id: str, starts_at: datetime, ends_at: datetime, title: str, notes: str
    ) -> RemoteAppointment:
        """Create it; `BackendSlotTaken` when the time is not free, `BackendRejected`, `BackendError`."""

    @abstractmethod
    def appointment_update(
        self, external_id: str, *, starts_at: datetime | None = None, ends_at: datetime | None = None,
        status: str | None = None,
    ) -> RemoteAppointment:
        """Move it and/or change its status; same errors as `appointment_create`."""


BackendResolver = Callable[[Calendar], CalendarBackend | None]
_resolvers: dict[str, BackendResolver] = {}


def register_calendar_backend(key: str, fn: BackendResolver) -> None:
    """Register ``fn`` under ``key`` (the provider name). Registering a key twice raises."""
    if key in _resolvers:
        raise ValueError(f"A calendar backend is already registered under {key!r}")
    _resolvers[key] = fn


def unregister_calendar_backend(key: str) -> None:
    _resolvers.pop(key, None)


def calendar_backend_for(calendar: Calendar) -> CalendarBackend | None:
    for fn in list(_resolvers.values()):
        backend = fn(calendar)
        if backend is not None:
            return backend
    return None
