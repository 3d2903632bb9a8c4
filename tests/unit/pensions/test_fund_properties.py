"""Properties of the fund figures over any contribution record (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from yikatong.pensions import rules
from yikatong.pensions.policy import load_pension_policy
from yikatong.pensions.rules import ContributionYear

R = load_pension_policy(2025).transfer

records = st.lists(
    st.builds(
        ContributionYear,
        year=st.integers(1990, 2025),
        months=st.integers(1, 12),
        monthly_base=st.integers(0, 10_000_000),
        city_code=st.just("370200"),
    ),
    max_size=30,
    unique_by=lambda y: y.year,
)


@given(records)
def test_the_pooled_part_is_12_percent_of_the_wages_since_1998_rounded_once(
    years: list[ContributionYear],
) -> None:
    wages = sum(y.monthly_base * y.months for y in years if y.year >= 1998)
    pooled = rules.pooled_part(years, R)
    assert abs(pooled * 10_000 - wages * 1200) <= 5_000  # at most half a fen off
    assert pooled == rules.pooled_part(list(reversed(years)), R)  # order does not matter


@given(records, st.integers(0, 10**9))
def test_the_fund_is_the_sum_of_its_parts(years: list[ContributionYear], balance: int) -> None:
    fund = rules.transfer_fund(balance, years, R)
    assert fund.total == fund.individual_account + fund.pooled
    assert fund.individual_account == balance and fund.pooled >= 0
    credited = rules.individual_account_credits(years, R)
    # 8–11 % credited against 12 % pooled: never more than the pooled part (plus rounding)
    assert credited <= fund.pooled + 1
