"""The pension transfer rules (国办发〔2009〕66号) with the figures of DOMAIN.md §2.9: 12 % pooled
part by month since 1998, individual account 11 % (1998–2005) / 8 % (from 2006), temporary
accounts for men 50+ / women 40+, the pension paid where 10+ years were spent, 15 working days
per step."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from yikatong.core.errors import InvalidInput, PolicyError
from yikatong.core.money import yuan
from yikatong.core.policy import parse_policy
from yikatong.pensions import rules
from yikatong.pensions.policy import PensionPolicy, load_pension_policy, policy_path
from yikatong.pensions.rules import ContributionYear as Y

R = load_pension_policy(2025).transfer
QD, YT, WF, RZ = "370200", "370600", "370700", "371100"


def test_the_pooled_part_is_12_percent_of_a_full_years_wages() -> None:
    # 6000 yuan a month for 2020: 72 000 yuan of wages, 12 % = 8640 yuan
    assert rules.pooled_part([Y(2020, 12, yuan(6000), QD)], R) == yuan(8640)


def test_a_part_year_counts_its_months_only() -> None:
    # 7 months at 5000 yuan: 35 000 yuan of wages, 12 % = 4200 yuan
    assert rules.pooled_part([Y(2024, 7, yuan(5000), QD)], R) == yuan(4200)


def test_years_before_1998_move_no_pooled_fund() -> None:
    years = [Y(1997, 12, yuan(1000), QD), Y(1998, 12, yuan(1000), QD)]
    assert rules.pooled_part(years, R) == yuan(1440)


def test_the_pooled_part_is_rounded_half_up_once() -> None:
    # 333.33 yuan × 1 month × 12 % = 39.9996 yuan → 40.00
    assert rules.pooled_part([Y(2020, 1, 33333, QD)], R) == yuan(40)
    # three such months in three years: 119.9988 → 120.00 (not 3 × a rounded 40.00 by luck)
    years = [Y(2020, 1, 33333, QD), Y(2021, 1, 33333, QD), Y(2022, 1, 33333, QD)]
    assert rules.pooled_part(years, R) == yuan(120)


def test_the_individual_account_is_credited_11_percent_until_2005_and_8_percent_after() -> None:
    assert rules.individual_account_credits([Y(2005, 12, yuan(2000), QD)], R) == yuan(2640)
    assert rules.individual_account_credits([Y(2006, 12, yuan(2000), QD)], R) == yuan(1920)
    assert rules.individual_account_credits([Y(1997, 12, yuan(2000), QD)], R) == 0


def test_the_fund_is_the_individual_account_plus_the_pooled_part() -> None:
    fund = rules.transfer_fund(yuan(12345, 67), [Y(2020, 12, yuan(6000), QD)], R)
    assert (fund.individual_account, fund.pooled, fund.total) == (
        yuan(12345, 67),
        yuan(8640),
        yuan(20985, 67),
    )
    assert fund.explain() == "individual account 12345.67 + pooled 8640.00 = 20985.67 yuan"


def test_a_month_cannot_be_paid_in_two_cities() -> None:
    with pytest.raises(InvalidInput, match="13 months"):
        rules.pooled_part([Y(2020, 6, yuan(5000), QD), Y(2020, 7, yuan(5000), YT)], R)
    # six months in each city is a move in the middle of the year
    assert rules.pooled_part([Y(2020, 6, yuan(5000), QD), Y(2020, 6, yuan(5000), YT)], R) == yuan(
        7200
    )


@pytest.mark.parametrize(
    "bad",
    [Y(2020, 0, 100, QD), Y(2020, 13, 100, QD), Y(2020, 12, -1, QD), Y(2020, 12, 1, "37")],
)
def test_a_malformed_year_is_refused(bad: Y) -> None:
    with pytest.raises(InvalidInput):
        rules.pooled_part([bad], R)


def test_a_man_of_50_moving_away_from_his_hukou_gets_a_temporary_account() -> None:
    on = dt.date(2025, 3, 10)
    kwargs = {"new_city_code": YT, "hukou_city_code": QD, "rules": R, "on": on}
    assert rules.temporary_account_decision(
        sex="M", birth_date=dt.date(1975, 3, 10), **kwargs
    ).temporary  # type: ignore[arg-type]
    # one day younger: 49 on the day of the letter
    assert not rules.temporary_account_decision(
        sex="M", birth_date=dt.date(1975, 3, 11), **kwargs
    ).temporary  # type: ignore[arg-type]


def test_a_woman_of_40_gets_one_but_not_at_her_hukou() -> None:
    on = dt.date(2025, 3, 10)
    born = dt.date(1985, 3, 10)
    away = rules.temporary_account_decision(
        sex="F", birth_date=born, on=on, new_city_code=YT, hukou_city_code=QD, rules=R
    )
    home = rules.temporary_account_decision(
        sex="F", birth_date=born, on=on, new_city_code=YT, hukou_city_code=YT, rules=R
    )
    assert away.temporary and "woman aged 40" in away.reason
    assert not home.temporary


def _stint(city: str, first: int, last: int) -> list[Y]:
    return [Y(year, 12, yuan(5000), city) for year in range(first, last + 1)]


def test_the_pension_is_paid_at_the_hukou_when_the_relation_is_there() -> None:
    paying = rules.pension_paying_city(_stint(QD, 2020, 2022), hukou_city_code=QD, rules=R)
    assert paying.city_code == QD


def test_ten_years_at_the_current_place_decide_it() -> None:
    years = _stint(YT, 2000, 2005) + _stint(QD, 2006, 2015)
    assert rules.pension_paying_city(years, hukou_city_code=RZ, rules=R).city_code == QD


def test_otherwise_the_last_earlier_place_with_ten_years() -> None:
    # 12 years in Yantai, then 10 in Weifang, then 9 in Qingdao: back to Weifang
    years = _stint(YT, 1995, 2006) + _stint(WF, 2007, 2016) + _stint(QD, 2017, 2025)
    paying = rules.pension_paying_city(years, hukou_city_code=RZ, rules=R)
    assert paying.city_code == WF
    assert "9 year(s) at the current place" in paying.reason


def test_without_ten_years_anywhere_everything_goes_to_the_hukou() -> None:
    years = _stint(YT, 2010, 2018) + _stint(QD, 2019, 2025)
    assert rules.pension_paying_city(years, hukou_city_code=RZ, rules=R).city_code == RZ


def test_each_step_is_due_15_working_days_later() -> None:
    assert rules.step_due(dt.date(2025, 3, 10), R) == dt.date(2025, 3, 31)
    # National Day 2025: 1–8 Oct off, Sun 28 Sep and Sat 11 Oct are make-up working days
    assert rules.step_due(dt.date(2025, 9, 26), R) == dt.date(2025, 10, 23)
    # Spring Festival 2025: 28 Jan–4 Feb off, Sun 26 Jan and Sat 8 Feb worked
    assert rules.step_due(dt.date(2025, 1, 20), R) == dt.date(2025, 2, 14)


def _data() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(policy_path(2025).read_text(encoding="utf-8"))
    return data


def test_the_shipped_policy_carries_the_national_figures() -> None:
    assert (R.step_working_days, R.pooled_rate_bp, R.pooled_from_year) == (15, 1200, 1998)
    assert (R.account_rate_bp(2005), R.account_rate_bp(2006), R.account_rate_bp(2030)) == (
        1100,
        800,
        800,
    )
    assert (R.temporary_account.male_age, R.temporary_account.female_age) == (50, 40)
    assert R.pension_place_min_years == 10


def test_a_policy_missing_a_figure_is_refused() -> None:
    data = _data()
    transfer = dict(data["transfer"])  # type: ignore[call-overload]
    del transfer["pooled_rate_bp"]
    with pytest.raises(PolicyError, match="pooled_rate_bp"):
        parse_policy(
            {**data, "transfer": transfer}, PensionPolicy, source="t", allow_illustrative=False
        )


def test_overlapping_account_rates_are_refused() -> None:
    data = _data()
    transfer = dict(data["transfer"])  # type: ignore[call-overload]
    transfer["individual_account_rates"] = [
        {"from_year": 1998, "to_year": 2006, "rate_bp": 1100},
        {"from_year": 2006, "to_year": None, "rate_bp": 800},
    ]
    with pytest.raises(PolicyError, match="overlap"):
        parse_policy(
            {**data, "transfer": transfer}, PensionPolicy, source="t", allow_illustrative=False
        )


def test_no_policy_before_the_first_file() -> None:
    with pytest.raises(PolicyError):
        load_pension_policy(2024)
