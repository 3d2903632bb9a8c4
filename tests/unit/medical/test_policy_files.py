"""The shipped Qingdao policies carry the seed figures; incomplete files are refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.medical.conftest import policy_from, qingdao_data, qingdao_yaml
from yikatong.core.errors import InvalidInput, NotFound, PolicyError
from yikatong.core.money import Fen
from yikatong.medical.policy import (
    Category,
    MedicalPolicy,
    available_policies,
    check_policy_file,
    load_medical_policy,
    load_medical_policy_file,
)
from yikatong.medical.rules import contribution_due, fiscal_subsidy


def test_qingdao_2024_individual_contributions_are_the_seed_figures(qd2024: MedicalPolicy) -> None:
    # seed 002: 一档居民462元、二档居民和少年儿童395元、大学生150元
    assert contribution_due(qd2024, "tier1") == Fen(46200)
    assert contribution_due(qd2024, "tier2") == Fen(39500)
    assert contribution_due(qd2024, Category.CHILD) == Fen(39500)
    assert contribution_due(qd2024, "student") == Fen(15000)


def test_qingdao_2024_fiscal_subsidies_are_the_seed_figures(qd2024: MedicalPolicy) -> None:
    # seed 002: 一档850元; 二档、少年儿童和在校大学生770元
    assert fiscal_subsidy(qd2024, "tier1") == Fen(85000)
    assert fiscal_subsidy(qd2024, "tier2") == Fen(77000)
    assert fiscal_subsidy(qd2024, "child") == Fen(77000)
    assert fiscal_subsidy(qd2024, "student") == Fen(77000)


def test_qingdao_2025_individual_contributions(qd2025: MedicalPolicy) -> None:
    assert contribution_due(qd2025, "tier1") == Fen(48200)
    assert contribution_due(qd2025, "tier2") == Fen(41500)
    assert contribution_due(qd2025, "child") == Fen(41500)
    assert contribution_due(qd2025, "student") == Fen(17000)


def test_qingdao_2024_window_is_september_to_december_for_cover_from_1_january(
    qd2024: MedicalPolicy,
) -> None:
    assert str(qd2024.collection.opens) == "2023-09-01"
    assert str(qd2024.collection.closes) == "2023-12-31"
    assert str(qd2024.collection.cover_starts) == "2024-01-01"
    assert qd2024.waiting_period.fixed_months == 3


def test_family_sharing_includes_siblings_grandparents_and_grandchildren_from_2024(
    qd2024: MedicalPolicy,
) -> None:
    assert set(qd2024.family_sharing.relations) == {
        "spouse", "parent", "child", "sibling", "grandparent", "grandchild",
    }  # fmt: skip


def test_offsite_reductions_are_the_national_points(qd2025: MedicalPolicy) -> None:
    offsite = qd2025.offsite
    assert offsite.filed_long_term_reduction_bp == 0
    assert offsite.filed_temporary_reduction_bp == 0
    assert offsite.referral_or_emergency_reduction_bp == 1000
    assert offsite.unfiled_other_reduction_bp == 2000


def test_unknown_category_is_refused(qd2024: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="tier3"):
        contribution_due(qd2024, "tier3")


def test_settlement_figures_not_published_are_illustrative(qd2025: MedicalPolicy) -> None:
    assert "settlement.deductible.level2" in qd2025.illustrative
    assert "settlement.critical_illness.cap" in qd2025.illustrative
    assert "contributions.individual.tier1" not in qd2025.illustrative


def test_illustrative_policy_is_refused_outside_the_demo() -> None:
    with pytest.raises(PolicyError, match=r"settlement\.annual_cap"):
        load_medical_policy("qingdao", 2025, allow_illustrative=False)


def test_packaged_policies_are_listed() -> None:
    assert {("qingdao", 2024), ("qingdao", 2025)} <= set(available_policies())


def test_missing_year_is_refused_naming_what_exists() -> None:
    with pytest.raises(NotFound, match="qingdao 2024, qingdao 2025"):
        load_medical_policy("qingdao", 2023, allow_illustrative=True)


def test_missing_city_is_refused() -> None:
    with pytest.raises(NotFound, match="atlantis 2025"):
        load_medical_policy("atlantis", 2025, allow_illustrative=True)


def test_city_that_is_not_a_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a city name"):
        load_medical_policy("../qingdao", 2025, allow_illustrative=True)


def test_every_missing_value_is_listed() -> None:
    data = qingdao_data(2025)
    del data["settlement"]["annual_cap"]
    del data["contributions"]["subsidy"]["student"]
    del data["waiting_period"]
    with pytest.raises(PolicyError) as excinfo:
        policy_from(data)
    problems = excinfo.value.extra["problems"]
    assert any(p.startswith("settlement.annual_cap") for p in problems)
    assert any(p.startswith("contributions.subsidy.student") for p in problems)
    assert any(p.startswith("waiting_period") for p in problems)


def test_yuan_with_two_decimals_is_held_as_fen() -> None:
    data = qingdao_data(2025)
    data["contributions"]["individual"]["tier1"] = 482.5
    assert policy_from(data).contributions.individual.tier1 == Fen(48250)


def test_yuan_with_three_decimals_is_refused_not_rounded() -> None:
    data = qingdao_data(2025)
    data["contributions"]["individual"]["tier1"] = 482.505
    with pytest.raises(PolicyError, match=r"contributions\.individual\.tier1"):
        policy_from(data)


def test_negative_and_boolean_amounts_are_refused() -> None:
    data = qingdao_data(2025)
    data["contributions"]["individual"]["tier1"] = -1
    data["contributions"]["individual"]["tier2"] = True
    with pytest.raises(PolicyError) as excinfo:
        policy_from(data)
    assert "contributions.individual.tier1" in excinfo.value.detail
    assert "contributions.individual.tier2" in excinfo.value.detail


def test_ratio_as_a_float_is_refused() -> None:
    data = qingdao_data(2025)
    data["settlement"]["reimbursement_bp"]["level1"] = 90.5
    with pytest.raises(PolicyError, match=r"reimbursement_bp\.level1"):
        policy_from(data)


def test_unknown_key_is_refused() -> None:
    data = qingdao_data(2025)
    data["settlement"]["anual_cap"] = 1
    with pytest.raises(PolicyError, match="anual_cap"):
        policy_from(data)


def test_critical_illness_bands_must_ascend_and_end_open() -> None:
    data = qingdao_data(2025)
    data["settlement"]["critical_illness"]["bands"] = [{"up_to": 10000, "ratio_bp": 6000}]
    with pytest.raises(PolicyError, match="bands"):
        policy_from(data)


def test_cover_must_start_on_1_january_of_the_policy_year() -> None:
    data = qingdao_data(2025)
    data["collection"]["cover_starts"] = "2025-02-01"
    with pytest.raises(PolicyError, match="cover_starts must be 2025-01-01"):
        policy_from(data)


def test_money_is_shown_again_as_yuan_strings(qd2024: MedicalPolicy) -> None:
    shown = qd2024.model_dump(mode="json")
    assert shown["contributions"]["individual"]["tier1"] == "462.00"
    assert MedicalPolicy.model_validate(shown).model_dump() == qd2024.model_dump()


def test_check_reports_problems_without_raising(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    data = qingdao_data(2025)
    del data["offsite"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = check_policy_file(path)
    assert result.policy is None
    assert any(p.startswith("offsite") for p in result.problems)


def test_check_lists_illustrative_paths_of_a_valid_file() -> None:
    result = check_policy_file(qingdao_yaml(2024))
    assert result.valid
    assert "settlement.catalogue.class_b_self_pay_bp" in result.illustrative


def test_a_file_without_illustrative_values_loads_for_production(tmp_path: Path) -> None:
    path = tmp_path / "published.yaml"
    path.write_text(
        yaml.safe_dump(_without_wrappers(qingdao_data(2025)), allow_unicode=True), encoding="utf-8"
    )
    policy = load_medical_policy_file(path, allow_illustrative=False)
    assert policy.illustrative == ()


def _without_wrappers(node: object) -> object:
    if isinstance(node, dict):
        if "value" in node:
            return _without_wrappers(node["value"])
        return {k: _without_wrappers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_wrappers(v) for v in node]
    return node
