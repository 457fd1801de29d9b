"""Appointments as the calendar system that owns them reports them (webhooks, reconciliation, the answers to our
own booking commands): one local row per remote appointment, its status mirrored, stale reports dropped by a
watermark, and the business events (booked, cancelled, no-show) announced once per change.

Ordering: the remote's own last-change time (`RemoteAppointment.updated_at`, GHL's `dateUpdated`, to the second)
is the link's `remote_updated_at` watermark; a report older than it is stale. Two reports of the same second are
ordered by when each was observed (`RemoteAppointment.observed_at`: a webhook's delivery timestamp, or when a read
was requested; the newest applied is kept in the link's snapshot as ``observed_at``): one observed before what was
applied is stale, one observed at the same instant is applied (arrival order). A report without either time is
applied. A report that changes nothing writes nothing (that is how the webhook for our own booking is recognised:
its row and link were stored by the command, under the calendar's lock the webhook also takes).
A remote delete is final: it archives the row, and later reports of that appointment are dropped.
"""
import logging
from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tenancy.models import Organization

from .. import events
from ..calendar_backend import RemoteAppointment
from ..models import Appointment, Calendar, Contact, ExternalIdentity
from ..selectors.external_ids import local_object_for_external_id
from ..sync.models import OutboxEntry
from ..sync.origin import sync_origin
from .calendar_lock import calendar_booking_lock
from .external_ids import external_id_link
from .free_slots import calendar_free_slots_invalidate

logger = logging.getLogger(__name__)

CREATED, UPDATED, UNCHANGED, STALE, ARCHIVED, GONE = "created", "updated", "unchanged", "stale", "archived", "gone"
NO_CALENDAR, NO_CONTACT = "no_calendar", "no_contact"
# GHL's create/update answers add these two to the status enum (REFERENCE.md §f); they mean what ours do.
STATUS_ALIASES = {"active": Appointment.Status.CONFIRMED, "completed": Appointment.Status.SHOWED}
BOOKED_STATUSES = (Appointment.Status.NEW, Appointment.Status.CONFIRMED)
OPEN_OUTBOX = (OutboxEntry.Status.PENDING, OutboxEntry.Status.IN_PROGRESS, OutboxEntry.Status.FAILED)


@dataclass(frozen=True)
class AppointmentApplied:
    outcome: str
    appointment: Appointment | None = None


def _status(remote: str, current: str | None) -> str:
    status = STATUS_ALIASES.get(remote, remote)
    if status in Appointment.Status.values:
        return status
    logger.warning("crm.appointments.unknown-status", extra={"status": remote})
    return current or Appointment.Status.NEW


def _observed(link: ExternalIdentity) -> datetime | None:
    raw = (link.synced_snapshot or {}).get("observed_at")
    return parse_datetime(raw) if raw else None


def _stale(link: ExternalIdentity, remote: RemoteAppointment) -> bool:
    mark = link.remote_updated_at
    if mark is None or remote.updated_at is None:
        return False
    if remote.updated_at != mark:
        return remote.updated_at < mark
    seen = _observed(link)
    # Strictly earlier only: a delivery time has milliseconds, so two changes can share it. Such a pair cannot be
    # told apart, and arrival order is the best guess (a redelivery of one webhook is stopped by the inbox first).
    return bool(remote.observed_at and seen and remote.observed_at < seen)


def appointment_announce(appt: Appointment, *, before: str | None, created: bool, external_id: str | None = None
                         ) -> None:
    """The business events of one change: booked (a new, active appointment still to come), cancelled, no-show.
    Sent after commit (`crm.events.emit`)."""
    if external_id is None:
        external_id = ExternalIdentity.objects.for_org(appt.organization_id).filter(
            content_type=ContentType.objects.get_for_model(Appointment), object_id=appt.pk,
        ).values_list("external_id", flat=True).first() or ""
    data = {"appointment_id": appt.pk, "calendar_id": appt.calendar_id, "external_id": external_id,
            "starts_at": appt.starts_at.isoformat(), "status": appt.status, "previous_status": before}
    if created:
        if appt.status in BOOKED_STATUSES and appt.ends_at > timezone.now():
            events.emit(events.APPOINTMENT_BOOKED, organization_id=appt.organization_id, contact_id=appt.contact_id,
                        data=data)
        elif appt.status == Appointment.Status.NO_SHOW:  # first seen as a no-show (its earlier reports were lost)
            events.emit(events.APPOINTMENT_NO_SHOW, organization_id=appt.organization_id,
                        contact_id=appt.contact_id, data=data)
        return
    if appt.status == before:
        return
    if appt.status == Appointment.Status.CANCELLED:
        events.emit(events.APPOINTMENT_CANCELLED, organization_id=appt.organization_id, contact_id=appt.contact_id,
                    data=data)
    elif appt.status == Appointment.Status.NO_SHOW:
        events.emit(events.APPOINTMENT_NO_SHOW, organization_id=appt.organization_id, contact_id=appt.contact_id,
                    data=data)


def _pending_local(appt: Appointment, provider: str, account_id: str) -> set[str]:
    """Fields of ``appt`` changed here and not yet pushed to that account (open outbox entries)."""
    rows = OutboxEntry.objects.for_org(appt.organization_id).filter(
        provider=provider, account_id=account_id, content_type=ContentType.objects.get_for_model(Appointment),
        object_id=appt.pk, status__in=OPEN_OUTBOX).values_list("changed_fields", flat=True)
    return {name for fields in rows for name in fields or []}


def _mark(link: ExternalIdentity, remote: RemoteAppointment, *, deleted: bool = False) -> None:
    snapshot = dict(link.synced_snapshot or {})
    if remote.updated_at is not None and (link.remote_updated_at is None or remote.updated_at > link.remote_updated_at):
        link.remote_updated_at = remote.updated_at
        snapshot.pop("observed_at", None)  # belongs to the older second
    seen = _observed(link) if "observed_at" in snapshot else None
    same_second = remote.updated_at is not None and remote.updated_at == link.remote_updated_at
    if remote.observed_at is not None and same_second and (seen is None or remote.observed_at > seen):
        snapshot["observed_at"] = remote.observed_at.isoformat()
    if deleted:
        snapshot["deleted"] = True
    link.synced_snapshot = snapshot
    link.last_synced_at = timezone.now()
    link.save(update_fields=["remote_updated_at", "synced_snapshot", "last_synced_at", "updated_at"])


@transaction.atomic
def appointment_remote_observed(*, appointment: Appointment, provider: str, account_id: str,
                                remote: RemoteAppointment) -> None:
    """Record ``remote`` (read back right after a push of ours) as the state applied: its `updated_at` and
    `observed_at` move the watermark, so a delayed report of an older state cannot undo the push."""
    link = ExternalIdentity.objects.for_org(appointment.organization_id).select_for_update().filter(
        provider=provider, account_id=account_id, content_type=ContentType.objects.get_for_model(Appointment),
        object_id=appointment.pk).first()
    if link is not None:
        _mark(link, remote)


def appointment_record_remote(
    *, organization: Organization, calendar: Calendar, contact: Contact | None, remote: RemoteAppointment,
    provider: str, account_id: str, connection_id: int | None = None, deleted: bool = False, announce: bool = True,
) -> AppointmentApplied:
    """Create, update or (``deleted``) archive the local appointment linked to ``remote``, under the provider's
    sync origin. The caller **must** hold `calendar_booking_lock(calendar.pk)` inside a transaction. ``contact``
    may be None only for a delete. ``announce=False`` (a first import of what already existed) sends no business
    events: nothing *happened*, and triggers must not greet every existing booking."""
    content_type = ContentType.objects.get_for_model(Appointment)
    link = (ExternalIdentity.objects.for_org(organization).select_for_update()
            .filter(provider=provider, account_id=account_id, content_type=content_type,
                    external_id=remote.external_id).first())
    appt = Appointment.objects.for_org(organization).filter(pk=link.object_id).first() if link else None
    if link is not None and (link.synced_snapshot or {}).get("deleted"):
        return AppointmentApplied(GONE, appt)
    if deleted:
        return _archive(link, appt, remote, announce)
    if link is not None and appt is not None and _stale(link, remote):
        return AppointmentApplied(STALE, appt)
    if contact is None:
        raise ValueError("a contact is needed to store an appointment")
    fields = {"calendar": calendar, "contact": contact, "starts_at": remote.starts_at, "ends_at": remote.ends_at,
              "status": _status(remote.status, appt.status if appt else None), "title": remote.title[:255],
              "location": remote.address[:255]}
    if remote.notes is not None:
        fields["notes"] = remote.notes
    if appt is not None:
        for name in _pending_local(appt, provider, account_id):
            fields.pop(name, None)  # a local change not pushed yet is newer than what the remote reports
    with sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
        if appt is None:
            appt = Appointment.objects.create(organization=organization, **fields)
            link = external_id_link(obj=appt, provider=provider, account_id=account_id,
                                    external_id=remote.external_id, connection_id=connection_id)
            outcome, before = CREATED, None
        else:
            before = appt.status
            changed = [name for name, value in fields.items() if getattr(appt, name) != value]
            for name in changed:
                setattr(appt, name, fields[name])
            if changed:
                appt.save(update_fields=[*changed, "updated_at"])
            outcome = UPDATED if changed else UNCHANGED
        _mark(link, remote)
    if outcome != UNCHANGED:
        if announce:
            appointment_announce(appt, before=before, created=outcome == CREATED,
                                 external_id=remote.external_id)
        transaction.on_commit(lambda: calendar_free_slots_invalidate(calendar=calendar))
    return AppointmentApplied(outcome, appt)


def _archive(link, appt, remote, announce: bool) -> AppointmentApplied:
    if link is None or appt is None:
        return AppointmentApplied(GONE, appt)
    was_booked = not appt.is_archived and appt.status != Appointment.Status.CANCELLED
    if not appt.is_archived:
        appt.is_archived, appt.archived_at = True, timezone.now()
        appt.save(update_fields=["is_archived", "archived_at", "updated_at"])
    _mark(link, remote, deleted=True)
    if announce and was_booked and appt.ends_at > timezone.now():
        events.emit(events.APPOINTMENT_CANCELLED, organization_id=appt.organization_id, contact_id=appt.contact_id,
                    data={"appointment_id": appt.pk, "calendar_id": appt.calendar_id,
                          "external_id": remote.external_id, "starts_at": appt.starts_at.isoformat(),
                          "status": appt.status, "previous_status": appt.status, "deleted": True})
    transaction.on_commit(lambda: calendar_free_slots_invalidate(calendar=appt.calendar))
    return AppointmentApplied(ARCHIVED, appt)


def appointment_apply_remote(
    *, organization: Organization, provider: str, account_id: str, calendar_external_id: str,
    remote: RemoteAppointment, connection_id: int | None = None, deleted: bool = False, announce: bool = True,
) -> AppointmentApplied:
    """Apply one report of a remote appointment (see the module docstring). The calendar and the contact are
    found through their links (the calendar mirror and the contact sync make them): `NO_CALENDAR` / `NO_CONTACT`
    when one is not linked yet, so the caller can mirror it and call again. Raises `AppointmentUnavailable` when
    the calendar stays locked by another command (retry later)."""
    calendar = local_object_for_external_id(model=Calendar, provider=provider, account_id=account_id,
                                            external_id=calendar_external_id)
    if calendar is None or calendar.organization_id != organization.pk:
        return AppointmentApplied(NO_CALENDAR)
    contact = None
    if remote.contact_external_id:
        contact = local_object_for_external_id(model=Contact, provider=provider, account_id=account_id,
                                               external_id=remote.contact_external_id)
        if contact is not None and contact.organization_id != organization.pk:
            contact = None
    if contact is None and not deleted:
        return AppointmentApplied(NO_CONTACT)
    with transaction.atomic(), calendar_booking_lock(calendar.pk):
        return appointment_record_remote(
            organization=organization, calendar=calendar, contact=contact, remote=remote, provider=provider,
            account_id=account_id, connection_id=connection_id, deleted=deleted, announce=announce)
