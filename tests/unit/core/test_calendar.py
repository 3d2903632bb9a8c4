import datetime as dt

import pytest

from yikatong.core.calendar import (
    add_working_days,
    is_working_day,
    supported_years,
    working_days_between,
)
from yikatong.core.errors import CalendarUnavailable


def test_spring_festival_2025_is_not_working_and_makeup_saturday_is() -> None:
    assert not is_working_day(dt.date(2025, 1, 29))  # 春节
    assert is_working_day(dt.date(2025, 1, 26))  # 调休: Sunday made a working day
    assert is_working_day(dt.date(2025, 2, 8))  # 调休 Saturday


def test_national_day_week_is_skipped_in_deadlines() -> None:
    # 2024-09-30 (Mon) + 1 working day skips 1–7 October; Saturday 12 October was a 调休
    # working day, so 9 working days end on Thursday 2024-10-17, not Friday the 18th.
    assert add_working_days(dt.date(2024, 9, 30), 1) == dt.date(2024, 10, 8)
    assert is_working_day(dt.date(2024, 10, 12))
    assert add_working_days(dt.date(2024, 9, 30), 9) == dt.date(2024, 10, 17)


def test_working_days_between_is_the_inverse_of_add() -> None:
    start = dt.date(2025, 4, 1)
    for days in (0, 1, 5, 10, 15):
        end = add_working_days(start, days)
        assert working_days_between(start, end) == days
        assert working_days_between(end, start) == -days


def test_year_without_official_notice_fails_loudly() -> None:
    missing = max(supported_years()) + 1
    with pytest.raises(CalendarUnavailable, match=str(missing)):
        is_working_day(dt.date(missing, 3, 2))
    with pytest.raises(CalendarUnavailable):
        add_working_days(dt.date(max(supported_years()), 12, 28), 10)
