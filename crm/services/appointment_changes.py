"""Local changes to an appointment's details (title, notes, status: "showed", "no-show", …), from staff, the owner
or other services, queued for the calendar system that owns it through the outbox, like any local change.

Times and cancelling are not details: they go through the booking commands (`appointments.py`), which check the
slot and the calendar's rules with the calendar system before anything is stored. A change made under a sync
origin (applied from the calendar system itself) is not queued back to it (the outbox's echo suppression).
"""
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Appointment, ExternalIdentity
from ..sync.origin import current_origin
from ..sync.outbox import outbox_record
from .appointment_sync import appointment_announce

DETAIL_FIELDS = ("title", "notes", "status")
# Cancelling is a command (the calendar may forbid it, and its slot is freed); everything else is a detail.
DETAIL_STATUSES = tuple(s for s in Appointment.Status.values if s != Appointment.Status.CANCELLED)
TITLE_MAX = 255


def appointment_clean_details(*, appointment: Appointment, title=None, notes=None, status=None) -> dict:
    """The changed details, validated; `ValidationError` keyed by field for anything that cannot be stored."""
    errors, values = {}, {}
    if appointment.is_archived:
        raise ValidationError({"appointment": "This appointment is archived (deleted in the calendar system)."})
    if title is not None:
        title = str(title).strip()
        if len(title) > TITLE_MAX:
            errors["title"] = f"The title can have at most {TITLE_MAX} characters."
        values["title"] = title
    if notes is not None:
        values["notes"] = str(notes)
    if status is not None:
        if status == Appointment.Status.CANCELLED and appointment.status != Appointment.Status.CANCELLED:
            errors["status"] = "Cancel the appointment with the cancel command (it checks the calendar's rules)."
        elif status not in Appointment.Status.values:
            errors["status"] = f"Unknown status {status!r}; one of: {', '.join(DETAIL_STATUSES)}."
        elif appointment.status == Appointment.Status.CANCELLED and status != appointment.status:
            errors["status"] = "A cancelled appointment stays cancelled: book a new one."
        values["status"] = status
    if errors:
        raise ValidationError(errors)
    return {name: value for name, value in values.items() if getattr(appointment, name) != value}


def _linked_targets(appt: Appointment) -> list[tuple[str, str]]:
    """The accounts holding this appointment (it lives in one calendar system), minus the change's own origin."""
    origin = current_origin()
    links = ExternalIdentity.objects.for_org(appt.organization_id).filter(
        content_type=ContentType.objects.get_for_model(Appointment), object_id=appt.pk)
    return [(p, a) for p, a in links.values_list("provider", "account_id") if origin is None or (p, a) != origin.target]


@transaction.atomic
def appointment_change_details(*, appointment: Appointment, title: str | None = None, notes: str | None = None,
                               status: str | None = None) -> tuple[Appointment, list[str]]:
    """Change the given details (None = leave it) and queue them for the calendar system; returns the appointment
    and the names of the fields that changed (nothing is queued when nothing changed). A status change is
    announced (no-show) like one coming from the calendar system."""
    appt = Appointment.objects.for_org(appointment.organization_id).select_for_update().get(pk=appointment.pk)
    changes = appointment_clean_details(appointment=appt, title=title, notes=notes, status=status)
    if not changes:
        return appt, []
    before = appt.status
    for name, value in changes.items():
        setattr(appt, name, value)
    appt.save(update_fields=[*changes, "updated_at"])
    outbox_record(obj=appt, fields=sorted(changes), targets=_linked_targets(appt))
    appointment_announce(appt, before=before, created=False)
    return appt, sorted(changes)
