"""Exact time handling for calendars: zones, local day ranges, parts of the day, naive start times.

Everything is computed on aware datetimes, and what leaves this module is in UTC (Python compares and subtracts
two datetimes of one zone by wall clock, an hour off across a DST change). A local date becomes a range from
its local midnight to the next one, so a DST day is 23 or 25 hours long, never a fixed 24. A naive time is read
in the calendar's zone, and a wall time that does not exist (the spring gap) or happens twice (the fall
overlap) is refused with a message saying how to fix it, never silently shifted by an hour.
"""
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = ZoneInfo("UTC")

# Local start (inclusive) and end (exclusive) hours of each part of the day.
PARTS_OF_DAY = {"morning": (0, 12), "afternoon": (12, 17), "evening": (17, 24)}
MAX_PROVIDER_RANGE = timedelta(days=31)


class TimeInputError(ValueError):
    """A zone, date or time the caller gave cannot be used; ``field`` names the input."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeInputError(field, f"Unknown time zone {name!r}: use an IANA name such as America/New_York.") from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def local_day_range(
    *, tz: ZoneInfo, start_date: date, end_date: date | None = None, part_of_day: str | None = None
) -> tuple[datetime, datetime]:
    """[start, end) covering the local dates start_date..end_date (inclusive) in ``tz``; with ``part_of_day``
    the range runs from that part's start on the first date to its end on the last (slots are filtered per day
    with `in_part_of_day`)."""
    end_date = end_date or start_date
    if end_date < start_date:
        raise TimeInputError("end_date", "end_date must not be before start_date.")
    if part_of_day is not None and part_of_day not in PARTS_OF_DAY:
        raise TimeInputError("part_of_day", f"part_of_day must be one of {', '.join(PARTS_OF_DAY)}.")
    first_hour, last_hour = PARTS_OF_DAY.get(part_of_day or "", (0, 24))
    start = local_midnight(start_date, tz) if first_hour == 0 else datetime.combine(
        start_date, time(first_hour), tzinfo=tz)
    end = local_midnight(end_date + timedelta(days=1), tz) if last_hour == 24 else datetime.combine(
        end_date, time(last_hour), tzinfo=tz)
    # In UTC: Python compares and subtracts two times of one zone by wall clock, which is wrong on DST days.
    return start.astimezone(UTC), end.astimezone(UTC)


def in_part_of_day(moment: datetime, *, tz: ZoneInfo, part_of_day: str | None) -> bool:
    if part_of_day is None:
        return True
    first_hour, last_hour = PARTS_OF_DAY[part_of_day]
    return first_hour <= moment.astimezone(tz).hour < last_hour


def split_range(
    start: datetime, end: datetime, *, span: timedelta = MAX_PROVIDER_RANGE
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive pieces no longer than ``span`` (GHL's free-slots limit is 31 days)."""
    pieces = []
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # absolute steps, not wall-clock ones
    while start < end:
        piece_end = min(start + span, end)
        pieces.append((start, piece_end))
        start = piece_end
    return pieces


def parse_start_time(value: str | datetime, *, tz: ZoneInfo, field: str = "start_time") -> datetime:
    """An ISO 8601 time with an offset, or a naive one read in ``tz``; refuses gap and overlap wall times."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise TimeInputError(field, f"{field} must be an ISO 8601 time such as 2027-03-16T14:00:00-04:00.") from exc
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    first, second = moment.replace(tzinfo=tz, fold=0), moment.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment:  # real, so one of two
            raise TimeInputError(
                field, f"{moment.isoformat()} happens twice in {tz.key} (clocks go back): give the offset, "
                f"{first.isoformat()} or {second.isoformat()}.")
        raise TimeInputError(
            field, f"{moment.isoformat()} does not exist in {tz.key} (clocks go forward): pick another time.")
    return first.astimezone(UTC)
