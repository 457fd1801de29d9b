"""Free slots as GHL computes them from a calendar's rules (REFERENCE.md §f, `CalendarDTO`).

All arithmetic runs on absolute instants (epoch ms); only the open hours are read as wall-clock times of the
location's timezone. So a slot grid steps straight through a DST change (09:00-17:00 on the day clocks go
forward still gives 16 half-hour slots, starting 09:00 at the new offset), and a block that spans the change
(00:00-04:00) loses or gains the hour it really does.

Rules applied, in the calendar's units (`mins`/`hours`, notice `hours`/`days`/`weeks`/`months`):

* open hours (`openHours`, days 0=Sunday..6) and/or dated custom `availabilities` (`availabilityType` 0 = open
  hours only, 1 = custom only, null = a custom date replaces that day's open hours);
* `slotDuration` (a slot's length) stepped by `slotInterval`; a slot must end by the block's close;
* `preBuffer`/`slotBuffer`: time kept free before/after every appointment, so a slot is taken when its
  buffered span overlaps an appointment, or its span overlaps an appointment's buffered span;
* `appoinmentPerSlot` (per team member), `appoinmentPerDay` (per calendar and local day, 0 = no limit);
* `allowBookingAfter` (minimum notice) and `allowBookingFor` (how far ahead), unless `ignore_date_range`;
* team members: a slot is free when at least one (of the `user_ids` asked for) is free; for a `collective`
  calendar every member must be. Members' appointments are counted against them only.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
NOTICE_UNIT_MS = {"mins": MINUTE_MS, "hours": 60 * MINUTE_MS, "days": 1440 * MINUTE_MS,
                  "weeks": 7 * 1440 * MINUTE_MS, "months": 30 * 1440 * MINUTE_MS}


def span_ms(value, unit: str | None, default_unit: str = "mins") -> int:
    return int(float(value or 0) * NOTICE_UNIT_MS.get(unit or default_unit, MINUTE_MS))


@dataclass(frozen=True)
class Booked:
    start_ms: int
    end_ms: int
    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    duration_ms: int
    interval_ms: int
    pre_ms: int
    post_ms: int
    per_slot: int
    per_day: int
    notice_ms: int
    horizon_ms: int  # 0 = no limit
    collective: bool
    members: tuple[str, ...]

    @classmethod
    def of(cls, calendar: dict) -> "Rules":
        duration = span_ms(calendar.get("slotDuration", 30), calendar.get("slotDurationUnit")) or 30 * MINUTE_MS
        interval = span_ms(calendar.get("slotInterval"), calendar.get("slotIntervalUnit")) or duration
        return cls(
            duration_ms=duration, interval_ms=interval,
            pre_ms=span_ms(calendar.get("preBuffer"), calendar.get("preBufferUnit")),
            post_ms=span_ms(calendar.get("slotBuffer"), calendar.get("slotBufferUnit")),
            per_slot=int(calendar.get("appoinmentPerSlot") or 1),
            per_day=int(calendar.get("appoinmentPerDay") or 0),
            notice_ms=span_ms(calendar.get("allowBookingAfter"), calendar.get("allowBookingAfterUnit"), "hours"),
            horizon_ms=span_ms(calendar.get("allowBookingFor"), calendar.get("allowBookingForUnit"), "days"),
            collective=calendar.get("calendarType") == "collective",
            members=tuple(m["userId"] for m in calendar.get("teamMembers") or [] if m.get("userId")),
        )


def _local_ms(day: date, hour: int, minute: int, tz: ZoneInfo) -> int:
    # 24:00 / minute 60 are how GHL writes "end of day"; a wall time that does not exist (inside the spring
    # gap) resolves with the offset before the change, as zoneinfo's fold=0 does.
    base = datetime(day.year, day.month, day.day, tzinfo=tz)
    extra = timedelta(hours=hour, minutes=minute)
    naive = datetime(day.year, day.month, day.day) + extra
    return int(naive.replace(tzinfo=tz).timestamp() * 1000) if extra < timedelta(days=1) else int(
        (base + timedelta(days=1)).timestamp() * 1000)


def day_blocks(calendar: dict, day: date, tz: ZoneInfo) -> list[tuple[int, int]]:
    """The open (start_ms, end_ms) blocks of one local day."""
    hours: list[dict] = []
    availability_type = calendar.get("availabilityType")
    custom = [a for a in calendar.get("availabilities") or []
              if not a.get("deleted") and str(a.get("date", ""))[:10] == day.isoformat()]
    if availability_type in (1, None) and custom:
        hours = [h for a in custom for h in a.get("hours") or []]
    elif availability_type != 1:
        js_weekday = (day.weekday() + 1) % 7
        hours = [h for block in calendar.get("openHours") or [] if js_weekday in block.get("daysOfTheWeek", [])
                 for h in block.get("hours") or []]
    blocks = []
    for h in hours:
        open_ms = _local_ms(day, int(h["openHour"]), int(h["openMinute"]), tz)
        close_ms = _local_ms(day, int(h["closeHour"]), int(h["closeMinute"]), tz)
        if close_ms > open_ms:
            blocks.append((open_ms, close_ms))
    return sorted(blocks)


def _clashes(rules: Rules, s: int, e: int, b: Booked) -> bool:
    return (s - rules.pre_ms < b.end_ms and b.start_ms < e + rules.post_ms) or (
        s < b.end_ms + rules.post_ms and b.start_ms - rules.pre_ms < e)


def _slot_free(rules: Rules, s: int, e: int, booked: list[Booked], user_ids: tuple[str, ...]) -> bool:
    clashing = [b for b in booked if _clashes(rules, s, e, b)]
    if not rules.members:
        return len(clashing) < rules.per_slot
    members = [u for u in rules.members if not user_ids or u in user_ids] or list(user_ids)
    free = [u for u in members if sum(1 for b in clashing if u in b.user_ids or not b.user_ids) < rules.per_slot]
    return bool(free) and (len(free) == len(members) if rules.collective else True)


def free_member(calendar: dict, start_ms: int, booked: list[Booked]) -> str | None:
    """The team member a booking at ``start_ms`` goes to: the first free one, by priority (round robin)."""
    rules = Rules.of(calendar)
    members = sorted(calendar.get("teamMembers") or [], key=lambda m: -float(m.get("priority", 0.5)))
    for member in members:
        if _slot_free(rules, start_ms, start_ms + rules.duration_ms, booked, (member["userId"],)):
            return member["userId"]
    return members[0]["userId"] if members else None


def compute(calendar: dict, *, tz: ZoneInfo, start_ms: int, end_ms: int, now_ms: int, booked: list[Booked],
            user_ids: tuple[str, ...] = (), ignore_date_range: bool = False) -> list[int]:
    """Start instants (ms, ascending) of the free slots whose start lies in [start_ms, end_ms]."""
    rules = Rules.of(calendar)
    earliest = max(start_ms, now_ms + (0 if ignore_date_range else rules.notice_ms))
    latest = end_ms if ignore_date_range or not rules.horizon_ms else min(end_ms, now_ms + rules.horizon_ms)
    day = datetime.fromtimestamp(start_ms / 1000, tz).date()
    last_day = datetime.fromtimestamp(end_ms / 1000, tz).date()
    out: list[int] = []
    while day <= last_day:
        blocks = day_blocks(calendar, day, tz)
        day_start, day_end = _local_ms(day, 0, 0, tz), _local_ms(day, 24, 0, tz)
        full = rules.per_day and sum(1 for b in booked if day_start <= b.start_ms < day_end) >= rules.per_day
        for open_ms, close_ms in [] if full else blocks:
            s = open_ms
            while s + rules.duration_ms <= close_ms:
                e = s + rules.duration_ms
                if earliest <= s <= latest and _slot_free(rules, s, e, booked, user_ids):
                    out.append(s)
                s += rules.interval_ms
        day += timedelta(days=1)
    return sorted(set(out))
