import pytest
from hypothesis import given
from hypothesis import strategies as st

from yikatong.core.errors import InvalidInput
from yikatong.core.money import Fen, format_yuan, parse_yuan, yuan


def test_seed_contribution_in_fen() -> None:
    # seed 002: Qingdao 2024 tier-1 adult contribution 462 yuan
    assert parse_yuan("462") == Fen(46200)
    assert yuan(462) == Fen(46200)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("3.5", 350), ("0.01", 1), ("-0.01", -1), ("¥14.00", 1400), ("850元", 85000), (" 7 ", 700)],
)
def test_parse_accepts_yuan_forms(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["1.234", "1,000", "1e3", "abc", "", "--1", "0.5.5", "NaN"])
def test_parse_refuses_what_it_would_have_to_round_or_guess(text: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        parse_yuan(text, field="fare")
    assert excinfo.value.field == "fare"


def test_format_always_two_decimals() -> None:
    assert format_yuan(46200) == "462.00"
    assert format_yuan(-5) == "-0.05"
    assert format_yuan(0) == "0.00"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_then_parse_is_identity(fen: int) -> None:
    assert parse_yuan(format_yuan(fen)) == fen
