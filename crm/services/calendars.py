from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from ..models import Appointment, Calendar, Contact, ExternalIdentity
from ..selectors.external_ids import local_object_for_external_id
from .external_ids import external_id_link, external_id_mark_synced


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


CALENDAR_REMOTE_FIELDS = (
    "name", "description", "calendar_type", "timezone", "slot_duration_minutes", "slot_interval_minutes",
    "open_hours", "team_members", "allow_reschedule", "allow_cancellation", "is_active",
)


@transaction.atomic
def calendar_upsert_from_remote(
    *,
    organization: Organization,
    provider: str,
    account_id: str,
    external_id: str,
    fields: dict,
    connection_id: int | None = None,
) -> Calendar:
    """Create or refresh the calendar linked to ``external_id`` with ``fields`` (keys of
    `CALENDAR_REMOTE_FIELDS`); a calendar archived because it vanished is restored when it shows up again."""
    unknown = set(fields) - set(CALENDAR_REMOTE_FIELDS)
    if unknown:
        raise ValueError(f"not calendar fields: {sorted(unknown)}")
    calendar = local_object_for_external_id(
        model=Calendar, provider=provider, account_id=account_id, external_id=external_id
    )
    if calendar is not None and calendar.organization_id != organization.pk:
        raise ValidationError({"calendar": "That calendar is linked to another organization."})
    if calendar is None:
        calendar = Calendar.objects.create(organization=organization, **fields)
        external_id_link(
            obj=calendar, provider=provider, account_id=account_id, external_id=external_id,
            connection_id=connection_id,
        )
        external_id_mark_synced(obj=calendar, provider=provider, account_id=account_id)
        return calendar
    external_id_mark_synced(obj=calendar, provider=provider, account_id=account_id)
    changed = [name for name, value in fields.items() if getattr(calendar, name) != value]
    for name in changed:
        setattr(calendar, name, fields[name])
    if calendar.is_archived:
        calendar.is_archived, calendar.archived_at = False, None
        changed += ["is_archived", "archived_at"]
    if changed:
        calendar.save(update_fields=[*changed, "updated_at"])
    return calendar


def calendars_archive_missing(
    *, organization: Organization, provider: str, account_id: str, present_external_ids: set[str]
) -> int:
    """Archive the account's linked calendars whose external id is no longer listed; returns how many."""
    content_type = ContentType.objects.get_for_model(Calendar)
    links = ExternalIdentity.objects.for_org(organization).filter(
        provider=provider, account_id=account_id, content_type=content_type
    ).exclude(external_id__in=present_external_ids)
    gone = Calendar.objects.for_org(organization).filter(
        pk__in=links.values("object_id"), is_archived=False
    )
    return gone.update(is_archived=True, archived_at=timezone.now())
