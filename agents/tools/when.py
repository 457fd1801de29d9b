"""A customer's words for a day ("next Tuesday afternoon", "tomorrow morning", "this week") as local dates and a
part of the day, read against *today in the calendar's zone* (in Sydney it may already be Wednesday while it is
Tuesday in New York).

Rules (English): "today", "tomorrow", "day after tomorrow"; a weekday alone, "this <weekday>" or "next
<weekday>" is the first such day after today (today itself is never meant: "Tuesday" said on a Tuesday is
next week's), which is how dateparser and most calendar apps read it; "<weekday> next week" / "next week's
<weekday>" is that day in the next Monday-to-Sunday week; "this week" is today to Sunday, "next week" Monday to
Sunday of the next week; an ISO date (YYYY-MM-DD) is itself. "morning", "afternoon", "evening" (also "in the
morning", "tonight" = evening) add a part of the day. Anything else is refused (never guessed).
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = {name: i for i, names in enumerate((
    ("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"), ("thursday", "thu", "thur", "thurs"),
    ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun"))) for name in names}
PARTS = {"morning": "morning", "afternoon": "afternoon", "evening": "evening", "tonight": "evening",
         "night": "evening"}
_FILLER = re.compile(r"\b(in|the|on|at|for|some ?time|during|please|of)\b")


class WhenError(ValueError):
    pass


@dataclass(frozen=True)
class When:
    start_date: date
    end_date: date
    part_of_day: str | None


def _following(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def when_window(text: str, *, tz: ZoneInfo, now: datetime | None = None) -> When:
    """The local dates and part of day ``text`` means in ``tz``; `WhenError` when it is not understood."""
    today = (now or datetime.now(tz)).astimezone(tz).date()
    words = " ".join(_FILLER.sub(" ", re.sub(r"[^a-z0-9\- ]", " ", text.lower().replace("'s", " "))).split())
    words = re.sub(r"\btonight\b", "today evening", words)
    part = None
    for word, value in PARTS.items():
        if re.search(rf"\b{word}\b", words):
            part = value
            words = " ".join(re.sub(rf"\b{word}\b", " ", words).split())
            break
    day = _day(words, today)
    if day is None:
        raise WhenError(f"“{text}” is not a day I can read; say e.g. \"next Tuesday afternoon\" or give a "
                        "date (YYYY-MM-DD).")
    return When(day[0], day[1], part)


def _day(words: str, today: date) -> tuple[date, date] | None:
    if words == "today":
        return today, today
    if words == "tomorrow":
        return today + timedelta(days=1), today + timedelta(days=1)
    if words in ("day after tomorrow", "after tomorrow"):
        return today + timedelta(days=2), today + timedelta(days=2)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", words):
        try:
            day = date.fromisoformat(words)
        except ValueError:
            return None
        return day, day
    next_monday = today + timedelta(days=7 - today.weekday())
    if words == "this week":
        return today, next_monday - timedelta(days=1)
    if words == "next week":
        return next_monday, next_monday + timedelta(days=6)
    match = re.fullmatch(r"(?:(this|next|coming|this coming)\s+)?([a-z]+)(\s+next week)?", words)
    if match is None:
        match = re.fullmatch(r"next week\s+([a-z]+)", words)
        if match and match[1] in WEEKDAYS:
            return (next_monday + timedelta(days=WEEKDAYS[match[1]]),) * 2
        return None
    weekday = WEEKDAYS.get(match[2])
    if weekday is None:
        return None
    if match[3]:
        if match[1]:
            return None
        day = next_monday + timedelta(days=weekday)
    else:
        day = _following(today, weekday)
    return day, day
