"""The customer's words for a day, read against today in the calendar's zone."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from agents.tools.when import WhenError, when_window

NY, SYD = ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney")
THURSDAY_NOON_NY = datetime(2026, 12, 3, 12, tzinfo=NY)


@pytest.mark.parametrize("text,start,end,part", [
    ("next Tuesday afternoon", date(2026, 12, 8), date(2026, 12, 8), "afternoon"),
    ("tomorrow morning", date(2026, 12, 4), date(2026, 12, 4), "morning"),
    ("Thursday", date(2026, 12, 10), date(2026, 12, 10), None),  # today is never meant
    ("friday next week", date(2026, 12, 11), date(2026, 12, 11), None),
    ("this week", date(2026, 12, 3), date(2026, 12, 6), None),
    ("next week", date(2026, 12, 7), date(2026, 12, 13), None),
    ("tonight", date(2026, 12, 3), date(2026, 12, 3), "evening"),
    ("2027-03-16 in the morning", date(2027, 3, 16), date(2027, 3, 16), "morning"),
])
def test_phrases(text, start, end, part):
    got = when_window(text, tz=NY, now=THURSDAY_NOON_NY)
    assert (got.start_date, got.end_date, got.part_of_day) == (start, end, part)


def test_today_is_the_calendars_today():
    # 12:00 in New York is already Friday 04:00 in Sydney: "tomorrow" there is Saturday
    assert when_window("tomorrow", tz=SYD, now=THURSDAY_NOON_NY).start_date == date(2026, 12, 5)


@pytest.mark.parametrize("text", ["whenever", "next blursday", "2027-02-30", ""])
def test_unknown_words_are_refused(text):
    with pytest.raises(WhenError):
        when_window(text, tz=NY, now=THURSDAY_NOON_NY)
