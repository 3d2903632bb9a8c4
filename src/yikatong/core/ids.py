"""Identifiers: resident ID numbers (GB 11643-1999) and SSC card numbers.

Validation gives one precise reason per failure so that a clerk knows which character to fix.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from stdnum.cn import ric
from stdnum.iso7064 import mod_11_2

from yikatong.core import clock
from yikatong.core.errors import InvalidInput

# First two digits of GB/T 2260 area codes: provinces, autonomous regions, municipalities.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    }
)  # fmt: skip

_BODY = re.compile(r"^\d{17}[\dX]$")
_CARD = re.compile(r"^\d{8}[\dX]$")

Sex = Literal["M", "F"]


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated resident ID number and what it encodes."""

    number: str
    area_code: str
    birth_date: dt.date
    sex: Sex

    @property
    def masked(self) -> str:
        """``370202********123X``: area code and the last four characters only."""
        return mask_resident_id(self.number)


def mask_resident_id(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:]


def parse_resident_id(raw: str, *, field: str = "id_number") -> ResidentId:
    """Validate a resident ID number (居民身份证号码) and derive birth date and sex."""
    number = raw.strip().upper()
    if len(number) != 18:
        raise InvalidInput(
            f"resident ID number must have 18 characters, got {len(number)}", field=field
        )
    if not _BODY.match(number):
        raise InvalidInput(
            "resident ID number must be 17 digits followed by a digit or X", field=field
        )
    if number[:2] not in PROVINCE_CODES:
        raise InvalidInput(
            f"resident ID number starts with unknown province code {number[:2]}", field=field
        )
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(
            f"resident ID number encodes an impossible birth date {number[6:14]}", field=field
        ) from None
    if birth > clock.today():
        raise InvalidInput(
            f"resident ID number encodes a birth date in the future ({birth.isoformat()})",
            field=field,
        )
    if birth.year < 1880:
        raise InvalidInput(
            f"resident ID number encodes an implausible birth year {birth.year}", field=field
        )
    expected = ric.calc_check_digit(number)  # stdnum ignores the last character given
    if number[17] != expected:
        raise InvalidInput(
            f"resident ID number check character is {number[17]}, expected {expected}: "
            "a digit was probably mistyped",
            field=field,
        )
    sex: Sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, area_code=number[:6], birth_date=birth, sex=sex)


def make_resident_id(area_code: str, birth_date: dt.date, order: int) -> str:
    """Compose a valid ID number (for synthetic data): order 0–999, odd = male."""
    body = f"{area_code}{birth_date:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Completed years of age on a date (a 29 Feb birthday counts on 1 Mar in common years)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def card_number(serial: int) -> str:
    """A 9-character SSC card number: 8 digits and an ISO 7064 MOD 11-2 check character."""
    if not 0 <= serial < 10**8:
        raise ValueError("card serial out of range")
    body = f"{serial:08d}"
    return body + str(mod_11_2.calc_check_digit(body))


def parse_card_number(raw: str, *, field: str = "card_no") -> str:
    number = raw.strip().upper()
    if not _CARD.match(number):
        raise InvalidInput(
            "card number must be 9 characters: 8 digits and a check digit or X", field=field
        )
    if number[8] != str(mod_11_2.calc_check_digit(number[:8])):
        raise InvalidInput(f"card number {number} has a wrong check character", field=field)
    return number
