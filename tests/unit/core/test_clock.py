import datetime as dt

import pytest

from yikatong.core import clock


def test_today_is_the_date_in_china() -> None:
    # 2024-12-31 17:30 UTC is already 1 January in Beijing: the year boundary of cover.
    fixed = clock.FixedClock(dt.datetime(2024, 12, 31, 17, 30, tzinfo=dt.UTC))
    with clock.clock_override(fixed):
        assert clock.today() == dt.date(2025, 1, 1)


def test_fixed_clock_moves_only_when_told() -> None:
    fixed = clock.FixedClock(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    fixed.advance(seconds=61)
    assert fixed.now() == dt.datetime(2025, 1, 1, 0, 1, 1, tzinfo=dt.UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        clock.FixedClock(dt.datetime(2025, 1, 1))
