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
    """Every calendar of the organisation with its appointments of today (from midnight in the calendar's zone,
    so the morning's can still be marked showed or no-show) and the next ``days`` days, by local day in the
    calendar's zone, any status. Each appointment gets ``local_start``/``local_end`` in that zone, and
    ``has_started`` / ``is_over`` against ``now``."""
    now = now or timezone.now()
    agendas = {cal.pk: CalendarAgenda(calendar=cal, timezone=cal.timezone or "UTC")
               for cal in calendar_list_for_org(organization=organization)}
    rows = (
        Appointment.objects.for_org(organization)
        .filter(is_archived=False, ends_at__gt=now - timedelta(days=1), starts_at__lt=now + timedelta(days=days),
                calendar_id__in=list(agendas))
        .select_related("contact")
        .order_by("starts_at", "id")
    )
    for appt in rows:
        agenda = agendas[appt.calendar_id]
        tz = zone(agenda.timezone)
        appt.local_start, appt.local_end = appt.starts_at.astimezone(tz), appt.ends_at.astimezone(tz)
        if appt.ends_at <= now and appt.local_start.date() != now.astimezone(tz).date():
            continue  # over before today began here
        appt.has_started, appt.is_over = appt.starts_at <= now, appt.ends_at <= now
        if not agenda.days or agenda.days[-1].day != appt.local_start.date():
            agenda.days.append(CalendarDay(day=appt.local_start.date()))
        agenda.days[-1].appointments.append(appt)
    return list(agendas.values())
