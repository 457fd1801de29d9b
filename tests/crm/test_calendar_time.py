from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.calendar_time import TimeInputError, in_part_of_day, local_day_range, parse_start_time, split_range, zone

NY = ZoneInfo("America/New_York")
SPRING, FALL = date(2027, 3, 14), date(2027, 11, 7)


def test_a_local_day_is_23_or_25_hours_on_dst_days():
    for day, hours in ((SPRING, 23), (FALL, 25), (date(2027, 6, 1), 24)):
        start, end = local_day_range(tz=NY, start_date=day)
        assert end - start == timedelta(hours=hours)
        assert start.astimezone(NY).hour == 0 and end.astimezone(NY).date() == day + timedelta(days=1)
        assert start.tzinfo == end.tzinfo == UTC or str(start.tzinfo) == "UTC"


def test_tuesday_afternoon_is_that_tuesday_in_the_calendars_zone():
    tuesday = date(2027, 3, 16)
    start, end = local_day_range(tz=NY, start_date=tuesday, part_of_day="afternoon")
    assert start == datetime(2027, 3, 16, 12, tzinfo=NY) and end == datetime(2027, 3, 16, 17, tzinfo=NY)
    assert start.astimezone(UTC) == datetime(2027, 3, 16, 16, tzinfo=UTC)  # EDT already, -04:00
    assert in_part_of_day(datetime(2027, 3, 16, 18, tzinfo=UTC), tz=NY, part_of_day="afternoon")  # 14:00 local
    assert not in_part_of_day(datetime(2027, 3, 16, 22, tzinfo=UTC), tz=NY, part_of_day="afternoon")


def test_bad_inputs_name_their_field():
    with pytest.raises(TimeInputError) as err:
        local_day_range(tz=NY, start_date=date(2027, 1, 2), end_date=date(2027, 1, 1))
    assert err.value.field == "end_date"
    with pytest.raises(TimeInputError) as err:
        local_day_range(tz=NY, start_date=date(2027, 1, 2), part_of_day="night")
    assert err.value.field == "part_of_day"
    with pytest.raises(TimeInputError) as err:
        zone("Mars/Olympus")
    assert err.value.field == "timezone"


def test_naive_times_are_read_in_the_zone_and_gap_or_overlap_times_refused():
    assert parse_start_time("2027-03-16T14:00:00", tz=NY) == datetime(2027, 3, 16, 18, tzinfo=UTC)
    assert parse_start_time("2027-03-16T14:00:00+01:00", tz=NY) == datetime(2027, 3, 16, 13, tzinfo=UTC)
    assert parse_start_time("2027-03-16T18:00:00Z", tz=NY) == datetime(2027, 3, 16, 18, tzinfo=UTC)
    with pytest.raises(TimeInputError, match="does not exist"):
        parse_start_time("2027-03-14T02:30:00", tz=NY)
    with pytest.raises(TimeInputError, match="happens twice") as err:
        parse_start_time("2027-11-07T01:30:00", tz=NY)
    assert "-04:00" in err.value.message and "-05:00" in err.value.message
    with pytest.raises(TimeInputError) as err:
        parse_start_time("next tuesday", tz=NY)
    assert err.value.field == "start_time"


def test_split_range_into_31_day_pieces():
    start = datetime(2027, 1, 1, tzinfo=UTC)
    pieces = split_range(start.astimezone(NY), start + timedelta(days=75))
    assert [b - a for a, b in pieces] == [timedelta(days=31), timedelta(days=31), timedelta(days=13)]
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    assert split_range(start, start) == []
