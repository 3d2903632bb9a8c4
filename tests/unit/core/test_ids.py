import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.core.ids import (
    age_on,
    card_number,
    make_resident_id,
    mask_resident_id,
    parse_card_number,
    parse_resident_id,
)


def test_gb11643_test_vector() -> None:
    # DOMAIN.md §3: the published example number
    rid = parse_resident_id("11010519491231002X")
    assert rid.birth_date == dt.date(1949, 12, 31)
    assert rid.sex == "F"  # order 002 is even
    assert rid.area_code == "110105"


def test_lowercase_x_is_accepted_and_normalised() -> None:
    assert parse_resident_id("11010519491231002x").number == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "check character is 1, expected X"),
        ("11010519491231002", "18 characters, got 17"),
        ("1101051949123100211", "18 characters, got 19"),
        ("11010519490230002X", "impossible birth date 19490230"),
        ("11010519491231002A", "17 digits followed by a digit or X"),
        ("99010519491231002X", "unknown province code 99"),
    ],
)
def test_each_bad_number_gets_its_own_reason(number: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        parse_resident_id(number)
    assert reason in excinfo.value.detail
    assert excinfo.value.field == "id_number"


def test_birth_date_in_the_future_is_refused() -> None:
    future = make_resident_id("370202", dt.date(2031, 1, 1), 11)
    fixed = clock.FixedClock(dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    with clock.clock_override(fixed), pytest.raises(InvalidInput, match="future"):
        parse_resident_id(future)


@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    st.integers(min_value=0, max_value=999),
)
def test_composed_numbers_always_validate(birth: dt.date, order: int) -> None:
    number = make_resident_id("370212", birth, order)
    rid = parse_resident_id(number)
    assert rid.birth_date == birth
    assert rid.sex == ("M" if order % 2 else "F")


def test_mask_shows_area_and_last_four_only() -> None:
    assert mask_resident_id("37020219550301123X") == "370202********123X"


def test_age_counts_completed_years_and_leap_birthdays() -> None:
    assert age_on(dt.date(1955, 3, 10), dt.date(2025, 3, 9)) == 69
    assert age_on(dt.date(1955, 3, 10), dt.date(2025, 3, 10)) == 70
    assert age_on(dt.date(1956, 2, 29), dt.date(2026, 2, 28)) == 69
    assert age_on(dt.date(1956, 2, 29), dt.date(2026, 3, 1)) == 70


def test_card_number_has_nine_characters_and_a_check_character() -> None:
    number = card_number(12345678)
    assert number == "123456789"  # ISO 7064 MOD 11-2 check of 12345678 is 9
    assert parse_card_number(number) == number
    with pytest.raises(InvalidInput, match="wrong check character"):
        parse_card_number("123456780")
    with pytest.raises(InvalidInput, match="9 characters"):
        parse_card_number("12345")
