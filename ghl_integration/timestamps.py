"""GHL's timestamps as aware datetimes: the one parser every GHL module reads times through.

What GHL sends (its API reference; the example webhooks in `tests/fixtures/ghl/webhooks/`):

* ISO 8601 in UTC with milliseconds, ``2026-03-14T09:27:42.355Z`` (most objects' ``dateAdded``/``dateUpdated``,
  opportunities' ``updatedAt``, webhooks' ``timestamp``);
* ISO 8601 with an offset, ``2026-03-20T14:00:00-07:00`` (calendars' ``startTime``/``endTime``, free slots);
* epoch milliseconds, as a number or a string of digits (conversations' ``lastMessageDate``, message lists);
* epoch seconds (``LCEmailStats``' ``timestamp``).

A time without a zone is taken as UTC (what GHL means when it leaves it out); an offset is kept as sent.
"""
import datetime as dt
import re
from typing import Any

from django.utils.dateparse import parse_datetime

#: A number at least this big is epoch milliseconds (in seconds it would be past the year 5000), else seconds.
EPOCH_MS_FROM = 10**11
EPOCH_SHAPE = re.compile(r"^-?\d+(\.\d+)?$")


def parse_ghl_time(value: Any) -> dt.datetime | None:
    """An aware datetime for any of GHL's time formats (module docstring); None for a missing, empty or invalid
    value, never an exception: a bad time in one record must not stop a webhook or a page from applying."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not EPOCH_SHAPE.match(text):
            return _iso(text)
        value = float(text)
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(value / 1000 if abs(value) >= EPOCH_MS_FROM else value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def require_ghl_time(value: Any, *, field: str) -> dt.datetime:
    """`parse_ghl_time` for a time GHL always sends (an appointment's start): `ValueError` naming ``field`` if it
    is missing or invalid."""
    moment = parse_ghl_time(value)
    if moment is None:
        raise ValueError(f"GHL sent no valid time in {field}: {value!r}")
    return moment


def _iso(text: str) -> dt.datetime | None:
    try:
        moment = parse_datetime(text)
    except ValueError:  # the shape of a time, impossible values (month 13)
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
