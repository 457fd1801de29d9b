from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from ..models import Appointment, Calendar, Contact


def calendar_create(
    *, organization: Organization, name: str, timezone_name: str = "", slot_duration_minutes: int = 30
) -> Calendar:
    return Calendar.objects.create(
        organization=organization, name=name, timezone=timezone_name, slot_duration_minutes=slot_duration_minutes
    )


@transaction.atomic
def appointment_create(
    *,
    organization: Organization,
    calendar: Calendar,
    contact: Contact,
    starts_at: datetime,
    ends_at: datetime,
    title: str = "",
    notes: str = "",
    location: str = "",
    status: str = Appointment.Status.CONFIRMED,
) -> Appointment:
    if timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        raise ValidationError({"starts_at": "Appointment times must carry a time zone."})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The appointment must end after it starts."})
    for related, label in ((calendar, "calendar"), (contact, "contact")):
        if related.organization_id != organization.pk:
            raise ValidationError({label: f"That {label} belongs to another organization."})
    return Appointment.objects.create(
        organization=organization,
        calendar=calendar,
        contact=contact,
        starts_at=starts_at,
        ends_at=ends_at,
        title=title,
        notes=notes,
        location=location,
        status=status,
    )
