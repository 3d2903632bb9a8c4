"""Enrolment rules checked before anything touches the database (today is 2025-03-10)."""

from __future__ import annotations

import datetime as dt

import pytest

from yikatong.core.errors import InvalidInput
from yikatong.core.ids import make_resident_id
from yikatong.registry.service import ResidentInput, validate_resident

GOOD_ID = make_resident_id("370202", dt.date(1990, 1, 1), 123)  # order 123: male


def entry(**changes: object) -> ResidentInput:
    values: dict[str, object] = {
        "id_number": GOOD_ID,
        "name": "王伟",
        "phone": "13812341234",
        "district_code": "370202",
        "bank_account": "6228480012345675678",
    }
    values.update(changes)
    return ResidentInput.model_validate(values)


def field_of(data: ResidentInput) -> str | None:
    with pytest.raises(InvalidInput) as caught:
        validate_resident(data)
    return caught.value.field


def test_sex_and_birth_date_come_from_the_id_number() -> None:
    valid = validate_resident(entry())
    assert (valid.sex, valid.birth_date) == ("M", dt.date(1990, 1, 1))


def test_lower_case_x_check_character_is_normalised() -> None:
    number = "11010519491231002X"
    assert validate_resident(entry(id_number=number.lower())).id_number == number


@pytest.mark.parametrize(
    "bad_number",
    [
        GOOD_ID[:17] + ("0" if GOOD_ID[17] != "0" else "1"),  # wrong check character
        "370202194902300012",  # impossible date 1949-02-30
        GOOD_ID[:17],  # 17 characters
        make_resident_id("370202", dt.date(2025, 3, 11), 1),  # born tomorrow
    ],
    ids=["check-character", "impossible-date", "length", "future-birth"],
)
def test_bad_id_numbers_are_refused_naming_the_field(bad_number: str) -> None:
    assert field_of(entry(id_number=bad_number)) == "id_number"


def test_given_sex_must_match_the_id_number() -> None:
    assert field_of(entry(sex="F")) == "sex"


def test_given_birth_date_must_match_the_id_number() -> None:
    assert field_of(entry(birth_date=dt.date(1990, 1, 2))) == "birth_date"


def test_matching_sex_and_birth_date_are_accepted() -> None:
    assert validate_resident(entry(sex="M", birth_date=dt.date(1990, 1, 1))).sex == "M"


def test_name_must_not_be_blank() -> None:
    assert field_of(entry(name="   ")) == "name"


@pytest.mark.parametrize("district", ["37020", "3702021", "37020A"])
def test_district_code_must_be_six_digits(district: str) -> None:
    assert field_of(entry(district_code=district)) == "district_code"


@pytest.mark.parametrize("phone", ["1381234123", "23812341234", "12812341234", "1381234123a"])
def test_phone_must_be_an_eleven_digit_mainland_mobile(phone: str) -> None:
    assert field_of(entry(phone=phone)) == "phone"


def test_phone_separators_are_dropped() -> None:
    assert validate_resident(entry(phone="138-1234 1234")).phone == "13812341234"


def test_bank_account_must_be_12_to_19_digits() -> None:
    assert field_of(entry(bank_account="12345")) == "bank_account"


def test_empty_optional_values_mean_not_given() -> None:
    valid = validate_resident(entry(phone="", bank_account=" ", address=""))
    assert (valid.phone, valid.bank_account, valid.address) == (None, None, None)
