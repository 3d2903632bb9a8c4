"""Parsing the bulk-import CSV: header check, flags, empty cells."""

from __future__ import annotations

import pytest

from yikatong.core.errors import InvalidInput
from yikatong.registry.importer import COLUMNS, check_header, parse_flag, parse_row


def row(**changes: str) -> dict[str, str]:
    values = dict.fromkeys(COLUMNS, "")
    values.update(id_number="11010519491231002X", name="李秀英", district_code="370202")
    values.update(changes)
    return values


def test_header_with_every_column_in_any_order_is_usable() -> None:
    assert set(check_header(reversed(COLUMNS))) == set(COLUMNS)


def test_header_with_a_byte_order_mark_is_usable() -> None:
    header = ["\ufeff" + COLUMNS[0], *COLUMNS[1:]]
    assert check_header(header)[0] == "id_number"


def test_header_missing_a_column_makes_the_file_unusable() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_header([c for c in COLUMNS if c != "district_code"])
    assert caught.value.field == "header"
    assert "district_code" in caught.value.detail


@pytest.mark.parametrize("text", ["1", "true", "YES", "是", " y "])
def test_true_flags(text: str) -> None:
    assert parse_flag(text, "disabled") is True


@pytest.mark.parametrize("text", ["", "0", "false", "no", "否", None])
def test_false_flags(text: str | None) -> None:
    assert parse_flag(text, "disabled") is False


def test_unknown_flag_value_names_its_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_row(row(veteran="maybe"))
    assert caught.value.field == "veteran"


def test_empty_cells_are_not_given() -> None:
    data = parse_row(row(student="1"))
    assert data.phone is None and data.bank_account is None and data.household_no is None
    assert data.student is True and data.disabled is False


def test_cells_are_trimmed() -> None:
    assert parse_row(row(name="  李秀英 ")).name == "李秀英"
