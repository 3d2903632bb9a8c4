"""Invariants of settlement for any bill (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.core.money import Fen
from yikatong.medical.policy import InstitutionLevel, OffsiteCase, load_medical_policy
from yikatong.medical.rules import (
    Accumulators,
    Claim,
    ClaimItem,
    ItemClass,
    Settlement,
    settle_claim,
    settle_year,
)

POLICY = load_medical_policy("qingdao", 2025, allow_illustrative=True)
CAP = POLICY.settlement.annual_cap

items = st.builds(
    ClaimItem,
    st.sampled_from(list(ItemClass)),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=0, max_value=5_000_000).map(Fen),
)
claims = st.builds(
    Claim,
    st.lists(items, min_size=1, max_size=6).map(tuple),
    st.integers(min_value=0, max_value=1_000_000).map(Fen),
    st.integers(min_value=0, max_value=1_000_000).map(Fen),
)
levels = st.sampled_from([1, 2, 3])
offsites = st.sampled_from([None, *OffsiteCase])
accumulators = st.builds(
    Accumulators,
    st.just(2025),
    st.integers(min_value=0, max_value=100_000).map(Fen),
    st.integers(min_value=0, max_value=CAP + 100_000).map(Fen),
    st.integers(min_value=0, max_value=60_000_000).map(Fen),
    st.integers(min_value=0, max_value=50_000_000).map(Fen),
    st.integers(min_value=0, max_value=40),
)


def settle(claim: Claim, acc: Accumulators, level: int, offsite: OffsiteCase | None) -> Settlement:
    return settle_claim(POLICY, claim, acc, institution_level=level, offsite=offsite)


@given(claims, accumulators, levels, offsites)
def test_parts_sum_exactly_to_the_bill(
    claim: Claim, acc: Accumulators, level: int, offsite: OffsiteCase | None
) -> None:
    s = settle(claim, acc, level, offsite)
    assert s.fund + s.critical_illness + s.personal_account + s.family_account + s.cash == s.total
    assert s.class_c_self_pay + s.class_b_self_pay + s.eligible == s.total
    assert s.deductible + s.co_pay + s.over_cap + s.fund == s.eligible
    assert min(s.critical_illness, s.personal_account, s.family_account, s.cash) >= 0


@given(claims, accumulators, levels, offsites)
def test_fund_is_never_negative_nor_above_the_remaining_cap(
    claim: Claim, acc: Accumulators, level: int, offsite: OffsiteCase | None
) -> None:
    s = settle(claim, acc, level, offsite)
    assert 0 <= s.fund <= max(0, CAP - acc.fund_paid)
    assert s.accumulators.fund_paid == acc.fund_paid + s.fund


@given(claims, items, accumulators, levels, offsites)
def test_fund_share_does_not_fall_when_the_bill_grows(
    claim: Claim,
    extra: ClaimItem,
    acc: Accumulators,
    level: int,
    offsite: OffsiteCase | None,
) -> None:
    bigger = Claim((*claim.items, extra), claim.personal_account_balance)
    assert settle(bigger, acc, level, offsite).fund >= settle(claim, acc, level, offsite).fund


@given(st.lists(claims, min_size=1, max_size=6), levels)
def test_deductible_is_consumed_at_most_once_a_year(claims_: list[Claim], level: int) -> None:
    settled = settle_year(POLICY, claims_, institution_level=level)
    deductible = POLICY.settlement.deductible.of(InstitutionLevel(level))
    taken = sum(s.deductible for s in settled)
    eligible = sum(s.eligible for s in settled)
    assert taken == min(eligible, deductible)
    assert settled[-1].accumulators.deductible_paid == taken


@settings(max_examples=50)
@given(st.lists(claims, min_size=2, max_size=5), levels)
def test_year_totals_stay_within_both_caps(claims_: list[Claim], level: int) -> None:
    settled = settle_year(POLICY, claims_, institution_level=level, continuous_years=10)
    last = settled[-1].accumulators
    assert last.fund_paid <= CAP
    assert last.critical_illness_paid <= POLICY.settlement.critical_illness.cap + 600_000
