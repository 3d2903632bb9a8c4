"""Card categories (卡类别) from registry attributes and age, on exact birthdays."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from yikatong.cards.models import CardCategory
from yikatong.cards.service import CATEGORY_PRIORITY, entitlements_for, primary_category

C = CardCategory


def _plain(birth: dt.date, on: dt.date) -> set[CardCategory]:
    return entitlements_for(birth, disabled=False, veteran=False, student=False, on=on)


def test_turning_60_counts_on_the_birthday_itself() -> None:
    birth = dt.date(1965, 3, 10)
    assert _plain(birth, dt.date(2025, 3, 9)) == {C.ORDINARY}
    assert _plain(birth, dt.date(2025, 3, 10)) == {C.SENIOR_60}


def test_turning_70_counts_on_the_birthday_and_replaces_senior_60() -> None:
    birth = dt.date(1955, 3, 10)
    assert _plain(birth, dt.date(2025, 3, 9)) == {C.SENIOR_60}
    assert _plain(birth, dt.date(2025, 3, 10)) == {C.SENIOR_70}


def test_a_29_february_birthday_turns_60_on_29_february_in_a_leap_year() -> None:
    birth = dt.date(1964, 2, 29)
    assert _plain(birth, dt.date(2024, 2, 28)) == {C.ORDINARY}
    assert _plain(birth, dt.date(2024, 2, 29)) == {C.SENIOR_60}


def test_a_29_february_birthday_turns_70_on_1_march_in_a_common_year() -> None:
    birth = dt.date(1956, 2, 29)
    assert _plain(birth, dt.date(2026, 2, 28)) == {C.SENIOR_60}
    assert _plain(birth, dt.date(2026, 3, 1)) == {C.SENIOR_70}


def test_disabled_comes_before_age_and_veteran() -> None:
    found = entitlements_for(
        dt.date(1940, 1, 1), disabled=True, veteran=True, student=False, on=dt.date(2025, 1, 1)
    )
    assert found == {C.DISABLED, C.VETERAN, C.SENIOR_70}
    assert primary_category(found) is C.DISABLED


def test_veteran_comes_before_age() -> None:
    found = entitlements_for(
        dt.date(1950, 1, 1), disabled=False, veteran=True, student=False, on=dt.date(2025, 1, 1)
    )
    assert primary_category(found) is C.VETERAN


def test_a_student_is_a_student_unless_something_else_applies() -> None:
    student = entitlements_for(
        dt.date(2005, 9, 1), disabled=False, veteran=False, student=True, on=dt.date(2025, 1, 1)
    )
    assert student == {C.STUDENT}
    disabled_student = entitlements_for(
        dt.date(2005, 9, 1), disabled=True, veteran=False, student=True, on=dt.date(2025, 1, 1)
    )
    assert primary_category(disabled_student) is C.DISABLED


def test_the_priority_lists_every_category_once() -> None:
    assert sorted(CATEGORY_PRIORITY) == sorted(CardCategory)


@given(
    birth=st.dates(dt.date(1900, 1, 1), dt.date(2024, 12, 31)),
    on=st.dates(dt.date(2025, 1, 1), dt.date(2040, 12, 31)),
    disabled=st.booleans(),
    veteran=st.booleans(),
    student=st.booleans(),
)
def test_primary_category_is_one_of_the_entitlements_and_ordinary_only_alone(
    birth: dt.date, on: dt.date, disabled: bool, veteran: bool, student: bool
) -> None:
    found = entitlements_for(birth, disabled=disabled, veteran=veteran, student=student, on=on)
    assert primary_category(found) in found
    assert (C.ORDINARY in found) == (found == {C.ORDINARY})
    assert not {C.SENIOR_60, C.SENIOR_70} <= found
