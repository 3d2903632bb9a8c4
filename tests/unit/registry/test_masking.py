"""Personal data is shown masked: area code and last four of an ID number, 3+4 of a phone,
last four of a bank account."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from yikatong.core.ids import mask_resident_id
from yikatong.registry.service import mask_bank_account, mask_phone


def test_id_number_masked_keeps_area_code_and_last_four() -> None:
    assert mask_resident_id("37020219900101123X") == "370202********123X"


def test_phone_masked_keeps_prefix_and_last_four() -> None:
    assert mask_phone("13812341234") == "138****1234"


def test_bank_account_masked_keeps_last_four_only() -> None:
    assert mask_bank_account("6228480012345675678") == "****5678"


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_masked_phone_never_shows_the_middle_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert len(masked) == 11
    assert masked[3:7] == "****"


@given(st.from_regex(r"\d{12,19}", fullmatch=True))
def test_masked_bank_account_reveals_at_most_four_digits(account: str) -> None:
    masked = mask_bank_account(account)
    assert sum(ch.isdigit() for ch in masked) == 4
    assert masked.endswith(account[-4:])
