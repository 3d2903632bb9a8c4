"""The venue policy file: concessions by age and card category, validation on load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from yikatong.core.errors import PolicyError
from yikatong.core.policy import packaged_policy_path
from yikatong.venues.policy import (
    VenuePolicy,
    load_venue_policy,
    packaged_venue_policy,
    price_after,
)

VISIT = dt.date(2025, 7, 1)


@pytest.fixture
def policy() -> VenuePolicy:
    return packaged_venue_policy("370200", VISIT, allow_illustrative=True)


def test_65_and_over_enter_free(policy: VenuePolicy) -> None:
    assert policy.concession(dt.date(1960, 7, 1), set(), VISIT) == ("age_65", 0)


def test_60_to_64_pay_half(policy: VenuePolicy) -> None:
    assert policy.concession(dt.date(1960, 7, 2), set(), VISIT) == ("age_60", 50)
    assert policy.concession(dt.date(1965, 7, 1), set(), VISIT) == ("age_60", 50)


def test_below_60_pays_in_full_unless_a_card_category_applies(policy: VenuePolicy) -> None:
    assert policy.concession(dt.date(1965, 7, 2), set(), VISIT) == ("none", 100)
    assert policy.concession(dt.date(2005, 1, 1), {"student"}, VISIT) == ("student", 50)
    assert policy.concession(dt.date(1990, 1, 1), {"veteran"}, VISIT) == ("veteran", 0)


def test_the_most_favourable_concession_wins(policy: VenuePolicy) -> None:
    assert policy.concession(dt.date(1962, 1, 1), {"disabled"}, VISIT) == ("disabled", 0)
    assert policy.concession(dt.date(1962, 1, 1), {"student"}, VISIT) == ("age_60", 50)


def test_half_of_an_odd_price_rounds_down_in_the_holders_favour() -> None:
    assert price_after(2999, 50) == 1499
    assert price_after(2000, 0) == 0


def test_the_packaged_file_is_demo_only_while_it_carries_illustrative_values() -> None:
    with pytest.raises(PolicyError) as refused:
        packaged_venue_policy("370200", dt.date(2025, 3, 1), allow_illustrative=False)
    assert "concessions.by_age[0].pays_percent" in refused.value.detail


def test_a_policy_missing_a_category_is_refused(tmp_path: Path) -> None:
    text = packaged_policy_path("qingdao", "venues-2025.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "venues.yaml"
    broken.write_text(text.replace("  library: 图书馆·文化馆\n", ""), encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_venue_policy(broken, allow_illustrative=True)
    assert "categories" in refused.value.detail


def test_no_policy_for_a_year_without_a_file() -> None:
    with pytest.raises(PolicyError):
        packaged_venue_policy("370200", dt.date(2019, 5, 1), allow_illustrative=True)
