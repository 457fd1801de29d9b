"""GHL's time formats, read by the one parser every GHL module uses (`ghl_integration.timestamps`)."""
import datetime as dt

import pytest

from ghl_integration.timestamps import parse_ghl_time, require_ghl_time

UTC = dt.UTC
MOMENT = dt.datetime(2026, 3, 14, 9, 27, 42, 355000, tzinfo=UTC)
PACIFIC = dt.timezone(dt.timedelta(hours=-7))


@pytest.mark.parametrize("value, expected", [
    ("2026-03-14T09:27:42.355Z", MOMENT),  # most objects' dateAdded/dateUpdated, webhooks' timestamp
    ("2026-03-14T09:27:42.355+00:00", MOMENT),
    ("2026-03-14T09:27:42Z", MOMENT.replace(microsecond=0)),
    ("2026-03-14T09:27:42.355", MOMENT),  # no zone: UTC
    ("2026-03-14 09:27:42.355Z", MOMENT),
    (" 2026-03-14T09:27:42.355Z ", MOMENT),
    ("2026-03-20T14:00:00-07:00", dt.datetime(2026, 3, 20, 14, tzinfo=PACIFIC)),  # calendars: the offset is kept
    (1773480462355, MOMENT),  # epoch milliseconds
    ("1773480462355", MOMENT),  # conversations' lastMessageDate: epoch ms as a string
    (1773480462, MOMENT.replace(microsecond=0)),  # LCEmailStats: epoch seconds
    (1773480462.355, MOMENT),
    (dt.datetime(2026, 3, 14, 9, 27, 42, 355000), MOMENT),  # already parsed (naive: UTC)
])
def test_ghl_formats_become_aware_datetimes(value, expected):
    parsed = parse_ghl_time(value)
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset()


def test_an_offset_is_kept_as_sent():
    assert parse_ghl_time("2026-03-20T14:00:00-07:00").utcoffset() == dt.timedelta(hours=-7)


@pytest.mark.parametrize("value", [
    None, "", "   ", "not a time", "2026-13-45T10:00:00Z", "2026-03-14T25:00:00Z", True, False, {}, [],
    "9" * 400, float("inf"), float("nan"), 10**30,
])
def test_missing_empty_or_invalid_is_none_never_an_error(value):
    assert parse_ghl_time(value) is None


def test_a_time_ghl_always_sends_names_its_field_when_missing_or_invalid():
    assert require_ghl_time("2026-03-14T09:27:42.355Z", field="startTime") == MOMENT
    with pytest.raises(ValueError, match="startTime"):
        require_ghl_time(None, field="startTime")
    with pytest.raises(ValueError, match="endTime"):
        require_ghl_time("soon", field="endTime")
