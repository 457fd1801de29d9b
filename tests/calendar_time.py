"""Dates for calendar tests that stay valid whenever the suite runs: the next DST changes, the next weekday."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def dst_changes(tz: ZoneInfo, after: date | None = None) -> dict[str, date]:
    """The next local dates (after ``after``, default a week from today) on which ``tz`` springs forward and
    falls back."""
    day = after or (datetime.now(tz).date() + timedelta(days=7))
    found: dict[str, date] = {}
    while len(found) < 2:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
        prev = datetime(day.year, day.month, day.day, tzinfo=tz).utcoffset()
        if noon != prev:
            found.setdefault("spring" if noon > prev else "fall", day)
        day += timedelta(days=1)
    return found


def next_weekday(tz: ZoneInfo, weekday: int, *, weeks_ahead: int = 1) -> date:
    """A date ``weekday`` (0 = Monday) at least ``weeks_ahead`` weeks from today in ``tz``."""
    today = datetime.now(tz).date() + timedelta(weeks=weeks_ahead)
    return today + timedelta(days=(weekday - today.weekday()) % 7)
