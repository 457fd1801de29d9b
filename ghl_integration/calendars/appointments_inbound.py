"""GHL appointments → `crm.services.appointment_sync`: shared by the Appointment* webhook handlers and the
appointment reconciliation.

An appointment needs its calendar and its contact linked first. When GHL reports one on a calendar we have not
mirrored yet, the location's calendars are mirrored again (two requests) and the report applied once more; when
its contact is not linked yet (its ContactCreate has not arrived, or was lost), the contact is fetched from GHL and
applied through the contact sync (matched by link, email or phone: never a duplicate person), then the report.
"""
import logging

from crm.services.appointment_sync import NO_CALENDAR, NO_CONTACT, AppointmentApplied, appointment_apply_remote
from crm.sync.inbound import contact_apply_remote

from ..client import GhlClient
from ..client.exceptions import GhlNotFound
from ..contacts.inbound import record_from_ghl
from ..contacts.mapping import contact_mapping_for
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..timestamps import parse_ghl_time
from .backend import PROVIDER
from .mirror import calendars_refresh
from .shape import remote_appointment_from_ghl

logger = logging.getLogger(__name__)


class AppointmentPayloadError(ValueError):
    """The GHL appointment lacks what every appointment has (id, calendarId, startTime, endTime)."""


def _remote(appointment: dict, observed_at):
    if not isinstance(appointment, dict):
        raise AppointmentPayloadError("no appointment object")
    missing = [k for k in ("id", "calendarId", "startTime", "endTime")
               if not isinstance(appointment.get(k), str) or not appointment.get(k)]
    if missing:
        raise AppointmentPayloadError(f"appointment without {', '.join(missing)}")
    try:
        return remote_appointment_from_ghl(appointment, observed_at=observed_at)
    except ValueError as exc:
        raise AppointmentPayloadError(f"appointment {appointment['id']}: unreadable time ({exc})") from exc


def contact_link_from_ghl(*, connection: GhlConnection, contact_external_id: str, client: GhlClient) -> bool:
    """Fetch one GHL contact and apply it through the contact sync; False when GHL no longer has it."""
    try:
        contact = client.contacts.get(contact_external_id)
    except GhlNotFound:
        return False
    mapping = contact_mapping_for(connection)
    record = record_from_ghl(mapping, contact, remote_updated_at=parse_ghl_time(contact.get("dateUpdated")))
    contact_apply_remote(
        organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
        connection_id=connection.pk, external_id=record.external_id, remote=record.remote,
        remote_updated_at=record.remote_updated_at, remote_hash=record.remote_hash,
        defer_while_creating=True,  # a create push of ours may be about to link this very person
    )
    return True


def appointment_apply_ghl(
    *, connection: GhlConnection, appointment: dict, observed_at=None, deleted: bool = False,
    client: GhlClient | None = None, announce: bool = True,
) -> AppointmentApplied:
    """Apply one GHL appointment (a webhook's ``appointment`` or an events-list item) observed at ``observed_at``
    (the webhook's delivery `timestamp`, or when the listing was asked for). `AppointmentPayloadError` for a
    malformed one; `crm.sync.inbound.CreatePushInFlight` and `AppointmentUnavailable` mean "retry soon"."""
    remote = _remote(appointment, observed_at)

    def apply() -> AppointmentApplied:
        return appointment_apply_remote(
            organization=connection.organization, provider=PROVIDER, account_id=connection.location_id,
            connection_id=connection.pk, calendar_external_id=appointment["calendarId"], remote=remote,
            deleted=deleted, announce=announce)

    result = apply()
    if result.outcome not in (NO_CALENDAR, NO_CONTACT):
        return result
    own_client = client is None
    client = client or GhlInstallation(connection).get_client()
    try:
        if result.outcome == NO_CALENDAR:
            calendars_refresh(connection=connection, client=client)
            result = apply()
        if result.outcome == NO_CONTACT and contact_link_from_ghl(
                connection=connection, contact_external_id=remote.contact_external_id, client=client):
            result = apply()
    finally:
        if own_client:
            client.close()
    if result.outcome in (NO_CALENDAR, NO_CONTACT):
        logger.warning("ghl.appointments.unlinked", extra={
            "connection_id": connection.pk, "external_id": remote.external_id, "outcome": result.outcome,
            "calendar_external_id": appointment["calendarId"], "contact_external_id": remote.contact_external_id})
    return result
