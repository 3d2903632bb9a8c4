"""Settling a bill (医保结算) on the Qingdao 2025 policy, whose settlement figures are
illustrative: level 1/2/3 deductible 300/600/1000 yuan, ratios 90/80/65 %, annual cap 250000,
class B self-pay 10 %, critical illness above 15000 at 60 % up to 100000 then 70 %, cap 400000."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from yikatong.core.errors import InvalidInput
from yikatong.core.money import Fen
from yikatong.medical.policy import MedicalPolicy, OffsiteCase
from yikatong.medical.rules import (
    Accumulators,
    Claim,
    ClaimItem,
    ItemClass,
    Settlement,
    continuous_reward,
    settle_claim,
    settle_year,
    share_of,
)

A, B, C = ItemClass.A, ItemClass.B, ItemClass.C


def bill(*items: tuple[ItemClass, int, int], personal: int = 0, family: int = 0) -> Claim:
    return Claim(
        tuple(ClaimItem(cls, qty, Fen(price)) for cls, qty, price in items),
        Fen(personal),
        Fen(family),
    )


def settle(
    policy: MedicalPolicy,
    claim: Claim,
    *,
    level: int = 2,
    offsite: OffsiteCase | None = None,
    acc: Accumulators | None = None,
) -> Settlement:
    return settle_claim(
        policy,
        claim,
        acc or Accumulators(year=policy.year),
        institution_level=level,
        offsite=offsite,
    )


def payers_sum(s: Settlement) -> int:
    return s.fund + s.critical_illness + s.personal_account + s.family_account + s.cash


def test_shares_round_half_up_on_the_fen() -> None:
    assert share_of(5, 1000) == 1  # 0.5 fen → 1
    assert share_of(4, 1000) == 0  # 0.4 fen → 0
    assert share_of(36150, 1000) == 3615


def test_what_if_example_level_2(qd2025: MedicalPolicy) -> None:
    # B:3:120.50 and A:1:800 → 1161.50 yuan
    s = settle(qd2025, bill((B, 3, 12050), (A, 1, 80000)))
    assert s.total == 116150
    assert s.class_b_self_pay == 3615  # 10 % of 361.50
    assert s.eligible == 112535
    assert s.deductible == 60000  # level 2 deductible 600
    assert s.fund == 42028  # 80 % of 525.35
    assert s.co_pay == 10507
    assert s.critical_illness == 0
    assert s.cash == 74122
    assert payers_sum(s) == s.total


def test_class_c_is_paid_wholly_by_the_patient(qd2025: MedicalPolicy) -> None:
    s = settle(qd2025, bill((C, 2, 50000)))
    assert s.class_c_self_pay == 100000
    assert s.eligible == 0
    assert s.fund == 0
    assert s.cash == 100000


def test_the_deductible_is_taken_once_a_year(qd2025: MedicalPolicy) -> None:
    first, second = settle_year(qd2025, [bill((A, 1, 40000)), bill((A, 1, 40000))],
                                institution_level=2)  # fmt: skip
    assert first.deductible == 40000
    assert second.deductible == 20000
    assert second.fund == 16000  # 80 % of 200.00
    assert second.accumulators.deductible_paid == 60000


def test_a_higher_level_takes_only_the_difference_of_deductibles(qd2025: MedicalPolicy) -> None:
    after_level1 = settle(qd2025, bill((A, 1, 50000)), level=1).accumulators
    s = settle(qd2025, bill((A, 1, 200000)), level=3, acc=after_level1)
    assert s.deductible == 70000  # 1000 − 300 already paid


def test_referral_or_emergency_offsite_loses_10_points(qd2025: MedicalPolicy) -> None:
    s = settle(qd2025, bill((A, 1, 160000)), offsite=OffsiteCase.REFERRAL_OR_EMERGENCY)
    assert s.ratio_bp == 7000
    assert s.fund == 70000  # 70 % of 1000.00


def test_unfiled_offsite_loses_20_points(qd2025: MedicalPolicy) -> None:
    s = settle(qd2025, bill((A, 1, 160000)), offsite=OffsiteCase.UNFILED_OTHER)
    assert s.ratio_bp == 6000
    assert s.fund == 60000


def test_filed_offsite_keeps_the_ratio(qd2025: MedicalPolicy) -> None:
    for case in (OffsiteCase.FILED_LONG_TERM, OffsiteCase.FILED_TEMPORARY):
        assert settle(qd2025, bill((A, 1, 160000)), offsite=case).ratio_bp == 8000


def test_the_fund_stops_at_the_annual_cap(qd2025: MedicalPolicy) -> None:
    near_cap = Accumulators(year=2025, deductible_paid=Fen(60000), fund_paid=Fen(24_990_000))
    s = settle(qd2025, bill((A, 1, 100000)), acc=near_cap)
    assert s.fund == 10000  # 100 yuan left under 250000
    assert s.over_cap == 70000
    assert s.accumulators.fund_paid == 25_000_000


def test_critical_illness_pays_60_percent_above_the_threshold(qd2025: MedicalPolicy) -> None:
    s = settle(qd2025, bill((A, 1, 10_000_000)), level=3)
    assert s.deductible == 100000
    assert s.fund == 6_435_000  # 65 % of 99000
    # eligible self-pay 1000 + 34650 = 35650; (35650 − 15000) × 60 %
    assert s.critical_illness == 1_239_000
    assert s.cash == 2_326_000
    assert payers_sum(s) == s.total


def test_critical_illness_bands_count_on_the_years_running_total(qd2025: MedicalPolicy) -> None:
    earlier = Accumulators(year=2025, deductible_paid=Fen(100000),
                           critical_illness_eligible=Fen(9_000_000))  # fmt: skip
    s = settle(qd2025, bill((C, 1, 0), (A, 1, 6_000_000)), level=3, acc=earlier)
    # 60000 × 35 % = 21000 self-pay, running total 90000 → 111000:
    # 10000 at 60 % + 11000 at 70 %
    assert s.co_pay == 2_100_000
    assert s.critical_illness == 600_000 + 770_000


def test_continuous_enrolment_raises_the_critical_illness_cap(qd2025: MedicalPolicy) -> None:
    at_cap = Accumulators(year=2025, deductible_paid=Fen(100000), continuous_years=6,
                          critical_illness_eligible=Fen(60_000_000),
                          critical_illness_paid=Fen(40_000_000))  # fmt: skip
    s = settle(qd2025, bill((A, 1, 1_000_000)), level=3, acc=at_cap)
    # cap 400000 + 2 years × 1000 reward: 2000 yuan left
    assert s.critical_illness == 200_000


def test_continuous_reward_starts_after_4_years(qd2025: MedicalPolicy) -> None:
    assert continuous_reward(qd2025, 4) == 0
    assert continuous_reward(qd2025, 5) == Fen(100000)
    assert continuous_reward(qd2025, 10) == Fen(600000)


def test_continuous_reward_is_capped_at_20_percent_of_the_cap(qd2025: MedicalPolicy) -> None:
    assert continuous_reward(qd2025, 200) == Fen(8_000_000)


def test_there_was_no_continuous_reward_in_2024(qd2024: MedicalPolicy) -> None:
    assert continuous_reward(qd2024, 10) == 0


def test_accounts_pay_before_cash_personal_first(qd2025: MedicalPolicy) -> None:
    s = settle(qd2025, bill((C, 1, 50000), personal=20000, family=100000))
    assert (s.personal_account, s.family_account, s.cash) == (20000, 30000, 0)


def test_the_explanation_carries_both_languages_and_reconciles(qd2025: MedicalPolicy) -> None:
    s = settle(qd2025, bill((B, 3, 12050), (A, 1, 80000)))
    lines = {line.code: line for line in s.lines}
    assert lines["fund"].label_zh == "统筹基金支付"
    assert lines["fund"].label_en == "Pooling fund pays"
    assert lines["deductible"].label_zh == "起付线自付"
    payer_codes = ("fund", "critical_illness", "personal_account", "family_account", "cash")
    assert sum(lines[code].amount for code in payer_codes) == lines["total"].amount


def test_accumulators_of_another_year_are_refused(qd2025: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="2024") as excinfo:
        settle(qd2025, bill((A, 1, 100)), acc=Accumulators(year=2024))
    assert excinfo.value.field == "year"


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        (Claim(()), "items"),
        (Claim((ClaimItem(A, 0, Fen(100)),)), "items[0].quantity"),
        (Claim((ClaimItem(A, 1, Fen(-1)),)), "items[0].unit_price"),
        (Claim((ClaimItem(A, 1, Fen(1)),), Fen(-5)), "personal_account_balance"),
    ],
)
def test_bad_claims_are_refused_naming_the_field(
    qd2025: MedicalPolicy, claim: Claim, field: str
) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        settle(qd2025, claim)
    assert excinfo.value.field == field


def test_unknown_institution_level_is_refused(qd2025: MedicalPolicy) -> None:
    with pytest.raises(InvalidInput, match="1, 2 or 3"):
        settle(qd2025, bill((A, 1, 100)), level=4)


def test_a_policy_without_class_b_self_pay_treats_b_like_a(
    qd2025_with: Callable[..., MedicalPolicy],
) -> None:
    policy = qd2025_with(lambda d: d["settlement"]["catalogue"].update(class_b_self_pay_bp=0))
    assert settle(policy, bill((B, 1, 100000))).fund == settle(policy, bill((A, 1, 100000))).fund
