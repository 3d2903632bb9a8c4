"""The meal-subsidy rules of the packaged Qingdao 2025 canteen policy."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yikatong.canteens import policy as canteen_policy
from yikatong.canteens.policy import CanteenPolicy, entitlement, subsidy_for
from yikatong.core.errors import PolicyError
from yikatong.core.policy import parse_policy

POLICY = canteen_policy.packaged_canteen_policy(
    "370200", dt.date(2025, 3, 10), allow_illustrative=True
)
SHINAN, SHIBEI = "370202", "370203"


def test_the_packaged_policy_is_refused_outside_the_demo() -> None:
    with pytest.raises(PolicyError, match="illustrative"):
        canteen_policy.packaged_canteen_policy(
            "370200", dt.date(2025, 3, 10), allow_illustrative=False
        )


def test_no_policy_for_a_year_without_a_file() -> None:
    with pytest.raises(PolicyError, match="canteens-2031"):
        canteen_policy.packaged_canteen_policy(
            "370200", dt.date(2031, 1, 1), allow_illustrative=True
        )


def test_seventy_and_over_get_3_yuan_plus_the_district_addon() -> None:
    got = entitlement(POLICY, age=70, struggling=False, district_code=SHINAN)
    assert got.category == "aged-70"
    assert got.daily == 300 + POLICY.districts[SHINAN].addon["aged-70"]


def test_sixty_nine_without_struggling_status_gets_nothing() -> None:
    got = entitlement(POLICY, age=69, struggling=False, district_code=SHIBEI)
    assert got.category is None and got.daily == 0


def test_struggling_sixty_and_over_get_up_to_14_yuan() -> None:
    got = entitlement(POLICY, age=60, struggling=True, district_code=SHIBEI)
    assert got.category == "struggling-60"
    assert got.daily == 1400


def test_struggling_under_sixty_get_nothing() -> None:
    assert entitlement(POLICY, age=59, struggling=True, district_code=SHIBEI).daily == 0


def test_the_best_category_counts_for_a_struggling_eighty_year_old() -> None:
    got = entitlement(POLICY, age=80, struggling=True, district_code=SHINAN)
    assert got.category == "struggling-60" and got.daily == 1400


def test_a_district_missing_from_the_policy_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="370299"):
        entitlement(POLICY, age=75, struggling=False, district_code="370299")


def test_subsidy_is_the_price_when_the_entitlement_covers_it() -> None:
    assert subsidy_for(POLICY, price=500, left_today=600, budget=10_000) == (500, False)


def test_subsidy_is_what_is_left_of_the_day() -> None:
    assert subsidy_for(POLICY, price=1500, left_today=200, budget=10_000) == (200, False)


def test_a_short_budget_grants_what_is_left_under_the_partial_rule() -> None:
    partial = POLICY.model_copy(update={"budget_shortfall": "partial"})
    assert subsidy_for(partial, price=1500, left_today=600, budget=250) == (250, False)
    assert subsidy_for(partial, price=1500, left_today=600, budget=0) == (0, False)


def test_a_short_budget_refuses_the_meal_under_the_refuse_rule() -> None:
    refuse = POLICY.model_copy(update={"budget_shortfall": "refuse"})
    assert subsidy_for(refuse, price=1500, left_today=600, budget=599) == (0, True)
    # Nothing wanted (entitlement used up): nothing to refuse.
    assert subsidy_for(refuse, price=1500, left_today=0, budget=0) == (0, False)


@given(
    price=st.integers(1, 100_000),
    left=st.integers(0, 5_000),
    budget=st.integers(0, 10_000),
    rule=st.sampled_from(["partial", "refuse"]),
)
def test_a_subsidy_never_exceeds_price_entitlement_or_budget(
    price: int, left: int, budget: int, rule: str
) -> None:
    policy = POLICY.model_copy(update={"budget_shortfall": rule})
    subsidy, refused = subsidy_for(policy, price=price, left_today=left, budget=budget)
    assert 0 <= subsidy <= min(price, left, budget)
    assert not (refused and subsidy)


def _raw() -> dict[str, object]:
    return {
        "city": "qingdao",
        "city_code": "370200",
        "year": 2025,
        "valid_from": "2025-01-01",
        "valid_until": "2025-12-31",
        "sources": [],
        "categories": [
            {
                "code": "aged-70",
                "name": "x",
                "min_age": 70,
                "requires_struggling": False,
                "daily": 300,
            }
        ],
        "districts": {"370202": {"name": "市南区", "addon": {"aged-70": 100}}},
        "budget_shortfall": "partial",
        "max_meal_price": 10_000,
    }


def test_a_district_without_an_addon_for_every_category_is_refused_at_load() -> None:
    raw = _raw()
    raw["districts"] = {"370202": {"name": "市南区", "addon": {}}}
    with pytest.raises(PolicyError, match="missing"):
        parse_policy(raw, CanteenPolicy, source="test", allow_illustrative=False)


def test_an_unknown_shortfall_rule_is_refused_at_load() -> None:
    raw = _raw()
    raw["budget_shortfall"] = "maybe"
    with pytest.raises(PolicyError, match="budget_shortfall"):
        parse_policy(raw, CanteenPolicy, source="test", allow_illustrative=False)


def test_a_complete_policy_loads() -> None:
    policy, illustrative = parse_policy(
        _raw(), CanteenPolicy, source="test", allow_illustrative=False
    )
    assert illustrative == [] and policy.districts["370202"].addon["aged-70"] == 100
