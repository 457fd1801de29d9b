"""Typed errors of the booking commands, with codes a tool passes on to an agent as they are."""
from collections.abc import Sequence
from datetime import datetime


class AppointmentError(Exception):
    """``code`` is stable (conflict, invalid, not_found, forbidden, unavailable); ``field`` names the input to
    fix; ``alternatives`` are free slot starts to offer instead (conflicts only)."""

    code = "invalid"
    retryable = False

    def __init__(self, message: str, *, field: str | None = None, alternatives: Sequence[datetime] = ()):
        super().__init__(message)
        self.message, self.field, self.alternatives = message, field, list(alternatives)

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.field:
            body["field"] = self.field
        if self.alternatives:
            body["alternatives"] = [slot.isoformat() for slot in self.alternatives]
        return body


class AppointmentConflict(AppointmentError):
    """The time is taken (or not a bookable slot); pick one of ``alternatives``."""

    code = "conflict"


class AppointmentInvalid(AppointmentError):
    code = "invalid"


class AppointmentNotFound(AppointmentError):
    code = "not_found"


class AppointmentForbidden(AppointmentError):
    """The calendar's rules do not allow it (e.g. cancelling or rescheduling switched off)."""

    code = "forbidden"


class AppointmentUnavailable(AppointmentError):
    """The calendar system did not answer or the calendar is busy; the same request may be retried."""

    code = "unavailable"
    retryable = True
