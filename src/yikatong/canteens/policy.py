"""The meal-subsidy policy of elderly canteens (老年助餐补贴), validated from YAML.

Packaged files are ``policies/<city>/canteens-<year>.yaml``; see the Qingdao file for how the
figures are applied. Every category needs an add-on in every district: a missing value is an
error when the file is loaded, never a default.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yikatong.core.errors import PolicyError
from yikatong.core.policy import load_policy_file, packaged_policy_in_force

_DISTRICT = re.compile(r"^\d{6}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SubsidyCategory(_Strict):
    """Who qualifies and for how much a day (fen)."""

    code: str = Field(min_length=2, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    min_age: int = Field(ge=0, le=130)
    requires_struggling: bool
    daily: int = Field(ge=0, le=100_000)


class DistrictRule(_Strict):
    name: str = Field(min_length=1, max_length=32)
    addon: dict[str, int]


class CanteenPolicy(_Strict):
    city: str
    city_code: str
    year: int
    valid_from: dt.date
    valid_until: dt.date
    sources: list[str]
    categories: list[SubsidyCategory] = Field(min_length=1)
    districts: dict[str, DistrictRule] = Field(min_length=1)
    budget_shortfall: Literal["partial", "refuse"]
    max_meal_price: int = Field(gt=0, le=1_000_000)

    @model_validator(mode="after")
    def _complete(self) -> CanteenPolicy:
        codes = [c.code for c in self.categories]
        if len(set(codes)) != len(codes) or not all(_CODE.match(c) for c in codes):
            raise ValueError("category codes are distinct lower-case slugs, e.g. aged-70")
        for district, rule in self.districts.items():
            if not _DISTRICT.match(district):
                raise ValueError(f"district {district!r} is not a 6-digit GB/T 2260 code")
            missing = [c for c in codes if c not in rule.addon]
            extra = [c for c in rule.addon if c not in codes]
            if missing or extra:
                raise ValueError(
                    f"district {district} add-ons must name each category exactly: "
                    f"missing {missing}, unknown {extra}"
                )
            if any(not 0 <= v <= 100_000 for v in rule.addon.values()):
                raise ValueError(f"district {district} add-ons are 0–100000 fen")
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def district(self, code: str) -> DistrictRule:
        rule = self.districts.get(code)
        if rule is None:
            raise PolicyError(
                f"the canteen policy {self.city}-{self.year} has no district {code}; "
                "add it to the policy file"
            )
        return rule


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What a resident may receive on one day at a canteen of one district (fen)."""

    category: str | None  # None: not eligible
    daily: int  # category figure + district add-on; 0 when not eligible


def entitlement(
    policy: CanteenPolicy, *, age: int, struggling: bool, district_code: str
) -> Entitlement:
    """The best category the resident qualifies for, with the canteen district's add-on."""
    rule = policy.district(district_code)
    best = Entitlement(None, 0)
    for category in policy.categories:
        if age < category.min_age or (category.requires_struggling and not struggling):
            continue
        daily = category.daily + rule.addon[category.code]
        if daily > best.daily or best.category is None:
            best = Entitlement(category.code, daily)
    return best


def subsidy_for(
    policy: CanteenPolicy, *, price: int, left_today: int, budget: int
) -> tuple[int, bool]:
    """(subsidy, refused): the subsidy of a meal, and whether the till must refuse the meal
    because the budget is short under the ``refuse`` rule."""
    wanted = max(0, min(price, left_today))
    if budget >= wanted:
        return wanted, False
    if policy.budget_shortfall == "refuse":
        return 0, True
    return max(0, budget), False


def load_canteen_policy(path: Path, *, allow_illustrative: bool) -> CanteenPolicy:
    return load_policy_file(path, CanteenPolicy, allow_illustrative=allow_illustrative)


def packaged_canteen_policy(
    city_code: str, on: dt.date, *, allow_illustrative: bool
) -> CanteenPolicy:
    """The packaged canteen policy of a city in force on a date."""
    return packaged_policy_in_force(
        "canteens", CanteenPolicy, city_code, on, allow_illustrative=allow_illustrative
    )
