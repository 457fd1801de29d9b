"""Reads of calendars and their appointments, grouped the way people read a diary."""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils import timezone

from tenancy.models import Organization

from ..calendar_time import zone
from ..models import Appointment, Calendar


@dataclass
class CalendarDay:
    day: date
    appointments: list[Appointment] = field(default_factory=list)


@dataclass
class CalendarAgenda:
    calendar: Calendar
    timezone: str
    days: list[CalendarDay] = field(default_factory=list)


def calendar_list_for_org(*, organization: Organization) -> list[Calendar]:
    return list(Calendar.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))


def appointments_upcoming_by_calendar(
    *, organization: Organization, days: int = 14, now: datetime | None = None
) -> list[CalendarAgenda]:
    """Every calendar of the organisation with its appointments from now for ``days`` days, by local day in
    the calendar's zone (each appointment's ``local_start``/``local_end`` set in that zone), any status."""
    now = now or timezone.now()
    agendas = {cal.pk: CalendarAgenda(calendar=cal, timezone=cal.timezone or "UTC")
               for cal in calendar_list_for_org(organization=organization)}
    rows = (
        Appointment.objects.for_org(organization)
        .filter(is_archived=False, ends_at__gt=now, starts_at__lt=now + timedelta(days=days),
                calendar_id__in=list(agendas))
        .select_related("contact")
        .order_by("starts_at", "id")
    )
    for appt in rows:
        agenda = agendas[appt.calendar_id]
        tz = zone(agenda.timezone)
        appt.local_start, appt.local_end = appt.starts_at.astimezone(tz), appt.ends_at.astimezone(tz)
        if not agenda.days or agenda.days[-1].day != appt.local_start.date():
            agenda.days.append(CalendarDay(day=appt.local_start.date()))
        agenda.days[-1].appointments.append(appt)
    return list(agendas.values())
