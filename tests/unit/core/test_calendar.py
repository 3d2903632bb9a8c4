import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from yikatong.core.calendar import (
    HolidayNotice,
    add_working_days,
    forget_notice,
    import_notice,
    is_working_day,
    load_notices,
    package_years,
    parse_notice,
    source_of,
    supported_years,
    use_notice,
    working_days_between,
)
from yikatong.core.errors import CalendarUnavailable, PolicyError


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


# A made-up arrangement in the shape of a State Council notice, for tests only: NOT the real
# schedule of any year. The year is the first one the calendar package does not tabulate.
FUTURE = max(package_years()) + 1


def made_up_notice(year: int = FUTURE, **changes: object) -> dict[str, object]:
    notice: dict[str, object] = {
        "year": year,
        "notice": f"test fixture: a made-up holiday arrangement for {year}",
        "published": dt.date(year - 1, 11, 10),
        "holidays": [
            {"name": "元旦", "first": dt.date(year, 1, 1), "last": dt.date(year, 1, 3)},
            {"name": "春节", "first": dt.date(year, 2, 8), "last": dt.date(year, 2, 14)},
        ],
        "working_days": [_first_weekend_day(dt.date(year, 2, 15))],
    }
    notice.update(changes)
    return notice


def _first_weekend_day(after: dt.date) -> dt.date:
    day = after
    while day.weekday() < 5:
        day += dt.timedelta(days=1)
    return day


@pytest.fixture
def future_notice() -> Iterator[HolidayNotice]:
    notice = HolidayNotice.model_validate(made_up_notice())
    use_notice(notice)
    yield notice
    forget_notice(FUTURE)


def test_a_notice_extends_the_calendar_into_the_year_the_package_lacks(
    future_notice: HolidayNotice,
) -> None:
    assert FUTURE in supported_years()
    assert source_of(FUTURE) == future_notice.notice
    assert is_working_day(future_notice.working_days[0])  # a weekend day worked (调休)
    # A deadline that starts in the package's last December runs through the notice's January.
    start = dt.date(FUTURE - 1, 12, 20)
    end = add_working_days(start, 15)
    assert end.year == FUTURE
    assert working_days_between(start, end) == 15
    for period in future_notice.holidays:
        assert not any(is_working_day(day) for day in period.days())
    plain_monday = dt.date(FUTURE, 3, 1) + dt.timedelta(days=-dt.date(FUTURE, 3, 1).weekday() + 7)
    assert is_working_day(plain_monday)
    assert not is_working_day(plain_monday + dt.timedelta(days=5))  # its Saturday


def test_without_the_notice_the_year_is_refused_again() -> None:
    with pytest.raises(CalendarUnavailable, match="ykt calendar import"):
        is_working_day(dt.date(FUTURE, 3, 1))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"working_days": [dt.date(FUTURE, 3, 3)]}, "weekday"),
        (
            {
                "holidays": [
                    {
                        "name": "春节",
                        "first": dt.date(FUTURE + 1, 2, 1),
                        "last": dt.date(FUTURE + 1, 2, 3),
                    }
                ]
            },
            f"not in {FUTURE}",
        ),
        (
            {
                "holidays": [
                    {"name": "元旦", "first": dt.date(FUTURE, 1, 1), "last": dt.date(FUTURE, 1, 3)},
                    {"name": "春节", "first": dt.date(FUTURE, 1, 3), "last": dt.date(FUTURE, 1, 5)},
                ]
            },
            "in both",
        ),
        (
            {
                "holidays": [
                    {"name": "春节", "first": dt.date(FUTURE, 2, 9), "last": dt.date(FUTURE, 2, 1)}
                ]
            },
            "before the first",
        ),
        ({"published": dt.date(FUTURE - 3, 1, 1)}, "published"),
        ({"holidays": []}, "holidays"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_notice_that_does_not_add_up_is_refused_naming_the_problem(
    changes: dict[str, object], problem: str
) -> None:
    text = yaml.safe_dump(made_up_notice(**changes), allow_unicode=True)
    with pytest.raises(PolicyError, match=problem):
        parse_notice(text)
    assert FUTURE not in supported_years()


def test_a_notice_for_a_year_the_package_has_is_refused() -> None:
    year = max(package_years())
    with pytest.raises(PolicyError, match="already tabulated"):
        parse_notice(yaml.safe_dump(made_up_notice(year), allow_unicode=True))


def test_import_keeps_the_file_and_a_different_notice_needs_replace(tmp_path: Path) -> None:
    text = yaml.safe_dump(made_up_notice(), allow_unicode=True)
    try:
        notice = import_notice(tmp_path, text)
        assert (tmp_path / f"{FUTURE}.yaml").read_text(encoding="utf-8") == text
        assert import_notice(tmp_path, text) == notice  # the same again changes nothing
        corrected = yaml.safe_dump(
            made_up_notice(notice=f"test fixture: corrected arrangement for {FUTURE}"),
            allow_unicode=True,
        )
        with pytest.raises(PolicyError, match="already imported"):
            import_notice(tmp_path, corrected)
        assert source_of(FUTURE) == notice.notice
        import_notice(tmp_path, corrected, replace=True)
        assert "corrected" in (source_of(FUTURE) or "")
        forget_notice(FUTURE)
        assert load_notices(tmp_path) == [FUTURE]
        assert "corrected" in (source_of(FUTURE) or "")
    finally:
        forget_notice(FUTURE)
