"""A calendar's free slots, from the system that owns its bookings, cached briefly.

The cache key carries a per-calendar generation number: `calendar_free_slots_invalidate` bumps it, so every
cached range of that calendar is dropped at once (our own bookings call it after commit; the appointment webhook
handler calls it for changes made in GHL). Entries also expire after `FREE_SLOTS_CACHE_SECONDS`, which bounds
how stale a slot can be when a change reaches us by no webhook at all.
"""
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache

from tenancy.models import Organization

from .. import calendar_time
from ..calendar_backend import CalendarBackend, calendar_backend_for
from ..models import Calendar

FREE_SLOTS_CACHE_SECONDS = 60
FILL_WAIT_SECONDS = 3
GENERATION_KEY = "crm:free-slots:gen:{calendar}"
RANGE_KEY = "crm:free-slots:{calendar}:{generation}:{start}:{end}"


class CalendarUnavailable(Exception):
    """No connected system owns this calendar's bookings (not linked, or its connection is not active)."""


@dataclass(frozen=True)
class FreeSlots:
    calendar_id: int
    timezone: str  # the zone of `days`' keys and of every time in them
    days: dict[str, list[datetime]]  # "YYYY-MM-DD" -> slot starts, ascending

    def all(self) -> list[datetime]:
        return [slot for day in self.days.values() for slot in day]

    def as_iso(self) -> dict[str, list[str]]:
        return {day: [slot.isoformat() for slot in slots] for day, slots in self.days.items()}


def calendar_zone(calendar: Calendar) -> ZoneInfo:
    return calendar_time.zone(calendar.timezone or "UTC", field="calendar")


def _cache_id(calendar: Calendar) -> str:
    # The row's creation instant beside its id: a database rebuilt under a long-lived cache (tests, a restore)
    # reuses ids, and must not find another calendar's slots.
    return f"{calendar.pk}.{int(calendar.created_at.timestamp() * 1_000_000)}"


def calendar_free_slots_invalidate(*, calendar: Calendar) -> None:
    """Forget every cached free-slot range of the calendar (call after a booking change commits)."""
    key = GENERATION_KEY.format(calendar=_cache_id(calendar))
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=None)


def _generation(calendar: Calendar) -> int:
    return cache.get(GENERATION_KEY.format(calendar=_cache_id(calendar))) or 0


def _backend(calendar: Calendar) -> CalendarBackend:
    backend = calendar_backend_for(calendar)
    if backend is None:
        raise CalendarUnavailable(f"Calendar {calendar.name!r} is not connected to a calendar system right now.")
    return backend


def calendar_free_slot_starts(
    *, calendar: Calendar, start: datetime, end: datetime, fresh: bool = False,
    backend: CalendarBackend | None = None,
) -> list[datetime]:
    """Free slot starts in [start, end) as aware UTC datetimes; ``fresh`` skips (but refills) the cache."""
    key = RANGE_KEY.format(calendar=_cache_id(calendar), generation=_generation(calendar),
                           start=int(start.timestamp()), end=int(end.timestamp()))
    filling = f"{key}:filling"
    if not fresh:
        cached = cache.get(key)
        # One reader fills a missing range; the others wait for it rather than each asking GHL (after every
        # booking the cache is dropped while a crowd may be reading it).
        if cached is None and not cache.add(filling, 1, timeout=FILL_WAIT_SECONDS):
            cached = _wait_for(key)
        if cached is not None:
            return [datetime.fromisoformat(value) for value in cached]
    backend = backend or _backend(calendar)
    try:
        starts = sorted({slot.astimezone(ZoneInfo("UTC")) for slot in backend.free_slots(start=start, end=end)
                         if start <= slot < end})
        cache.set(key, [slot.isoformat() for slot in starts], timeout=FREE_SLOTS_CACHE_SECONDS)
    finally:
        if not fresh:
            cache.delete(filling)
    return starts


def _wait_for(key: str) -> list[str] | None:
    deadline = time.monotonic() + FILL_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.02)
        cached = cache.get(key)
        if cached is not None:
            return cached
    return None


def calendar_free_slots(
    *,
    organization: Organization,
    calendar: Calendar,
    start_date: date,
    end_date: date | None = None,
    timezone: str | None = None,
    part_of_day: str | None = None,
    dates_in: str = "calendar",
) -> FreeSlots:
    """Free slots of the local dates start_date..end_date (inclusive), grouped by day.

    The dates (and ``part_of_day``: morning, afternoon, evening) are read in the calendar's zone, or in the
    customer's ``timezone`` when ``dates_in="customer"``; slots come back in ``timezone`` when given, else in
    the calendar's zone, keyed by their date in that zone. Ranges of any length are split for the backend.
    """
    if calendar.organization_id != organization.pk:
        raise CalendarUnavailable("That calendar belongs to another organization.")
    cal_tz = calendar_zone(calendar)
    out_tz = calendar_time.zone(timezone) if timezone else cal_tz
    if dates_in not in ("calendar", "customer"):
        raise calendar_time.TimeInputError("dates_in", 'dates_in must be "calendar" or "customer".')
    dates_tz = out_tz if dates_in == "customer" else cal_tz
    start, end = calendar_time.local_day_range(
        tz=dates_tz, start_date=start_date, end_date=end_date, part_of_day=part_of_day
    )
    days: dict[str, list[datetime]] = {}
    for slot in calendar_free_slot_starts(calendar=calendar, start=start, end=end):
        if calendar_time.in_part_of_day(slot, tz=dates_tz, part_of_day=part_of_day):
            local = slot.astimezone(out_tz)
            days.setdefault(local.date().isoformat(), []).append(local)
    return FreeSlots(calendar_id=calendar.pk, timezone=out_tz.key, days=days)


NEAREST_WINDOW = timedelta(days=7)


def nearest_window(*, around: datetime) -> tuple[datetime, datetime]:
    """Where alternatives to ``around`` are looked for: about a week either side, not before this hour.

    Bounds fall on whole UTC days (and the current hour), so bookings of nearby times share one cached range.
    """
    utc = ZoneInfo("UTC")
    day = around.astimezone(utc).replace(hour=0, minute=0, second=0, microsecond=0)
    this_hour = datetime.now(tz=utc).replace(minute=0, second=0, microsecond=0)
    return max(day - NEAREST_WINDOW, this_hour), day + NEAREST_WINDOW + timedelta(days=1)


def nearest_of(starts: list[datetime], *, around: datetime, tz: ZoneInfo, count: int = 3) -> list[datetime]:
    """Up to ``count`` of ``starts`` nearest to ``around`` (an earlier one wins a tie), in time order, in ``tz``."""
    now = datetime.now(tz=ZoneInfo("UTC"))
    nearest = sorted((s for s in starts if s != around and s > now),
                     key=lambda slot: (abs((slot - around).total_seconds()), slot))[:count]
    return [slot.astimezone(tz) for slot in sorted(nearest)]


def nearest_free_slots(
    *, calendar: Calendar, around: datetime, count: int = 3, backend: CalendarBackend | None = None
) -> list[datetime]:
    """Up to ``count`` free slot starts nearest to ``around`` (a week either side), in the calendar's zone."""
    start, end = nearest_window(around=around)
    starts = calendar_free_slot_starts(calendar=calendar, start=start, end=end, fresh=True, backend=backend)
    return nearest_of(starts, around=around, tz=calendar_zone(calendar), count=count)
