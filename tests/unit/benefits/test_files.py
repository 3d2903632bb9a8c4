"""The pure parts of disbursement: names on the bank file, months, return-file rows, the policy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from yikatong.benefits import service
from yikatong.benefits.models import LineStatus, ProgrammeKind
from yikatong.core.errors import InvalidInput, PolicyError
from yikatong.core.policy import load_policy_file


@pytest.mark.parametrize(
    ("name", "masked"), [("王小明", "王*明"), ("李四", "李*"), ("欧阳娜娜", "欧**娜"), ("张", "张")]
)
def test_the_bank_sees_a_masked_name(name: str, masked: str) -> None:
    assert service.mask_name(name) == masked


@given(st.text(min_size=3, max_size=20))
def test_a_masked_name_keeps_its_length_and_ends(name: str) -> None:
    masked = service.mask_name(name)
    assert len(masked) == len(name) and masked[0] == name[0] and masked[-1] == name[-1]


def test_months_are_written_yyyy_mm() -> None:
    assert service.parse_month("2025-03") == dt.date(2025, 3, 1)
    for bad in ("2025-3", "2025-13", "25-03", "2025/03", "1999-01"):
        with pytest.raises(InvalidInput):
            service.parse_month(bad)


def test_return_rows_are_parsed_and_every_bad_row_is_named_by_line() -> None:
    text = (
        "line_id,amount_fen,status,bank_reference,reason\n"
        "7,300000,paid,CB1,\n"
        "8,300000,failed,,账户冻结\n"
        "\n"
        "x,1,paid,CB2,\n"
        "9,0,paid,CB3,\n"
        "10,5,bounced,,\n"
        "11,5,failed,,\n"
        "12,5,paid,,\n"
        "13,5,paid\n"
    )
    rows, problems = service._parse_return_file(text)
    assert [(r.line_id, r.status, r.bank_reference, r.reason) for r in rows] == [
        (7, LineStatus.PAID, "CB1", None),
        (8, LineStatus.FAILED, None, "账户冻结"),
    ]
    assert [(p["line"], p["field"]) for p in problems] == [
        (5, "line_id"),
        (6, "amount_fen"),
        (7, "status"),
        (8, "reason"),
        (9, "bank_reference"),
        (10, "row"),
    ]


def test_a_return_file_without_its_header_row_is_refused() -> None:
    rows, problems = service._parse_return_file("7,300000,paid,CB1,\n")
    assert rows == [] and problems[0]["field"] == "header"
    rows, problems = service._parse_return_file("line_id,amount_fen,status,bank_reference,reason\n")
    assert rows == [] and problems[0]["reason"] == "the file holds no payment line"


def test_the_packaged_policy_covers_every_programme_and_is_illustrative() -> None:
    policy = service.load_benefits_policy(2025, allow_illustrative=True)
    assert all(policy.programmes.of(kind).amount > 0 for kind in ProgrammeKind)
    assert policy.programmes.of(ProgrammeKind.ONE_CHILD_REWARD).amount == 296684
    assert policy.programmes.of(ProgrammeKind.BASIC_PENSION).months == list(range(1, 13))
    with pytest.raises(PolicyError) as refused:
        service.load_benefits_policy(2025, allow_illustrative=False)
    assert "programmes.basic_pension.amount" in refused.value.extra["illustrative"]


def test_a_later_year_uses_the_policy_in_force_and_an_earlier_one_has_none() -> None:
    assert service.benefits_policy_path(2026).endswith("benefits-2025.yaml")
    with pytest.raises(PolicyError):
        service.benefits_policy_path(1990)


def test_a_policy_missing_a_programme_or_with_a_bad_amount_is_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(Path(service.benefits_policy_path(2025)).read_text(encoding="utf-8"))
    del data["programmes"]["hardship_aid"]
    data["programmes"]["subsidy"]["amount"] = 1.234
    path = tmp_path / "benefits-2025.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_policy_file(path, service.BenefitsPolicy, allow_illustrative=True)
    assert "hardship_aid" in refused.value.detail and "subsidy" in refused.value.detail
