"""The pension-transfer policy (养老保险关系转移) as validated data.

Files live in ``yikatong/policies/<city>/pensions-<year>.yaml``; the newest file of a year or an
earlier one is in force. Every field is required: a missing value is refused at load time.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from yikatong.core.errors import PolicyError
from yikatong.core.policy import load_policy_file, packaged_policy_path

BASIS_POINTS = 10_000  # 100 %
POLICY_CITY = "qingdao"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountRate(_Model):
    """The share of the monthly wage base credited to the individual account (个人账户)."""

    from_year: StrictInt = Field(ge=1990, le=2100)
    to_year: StrictInt | None = Field(default=..., ge=1990, le=2100)
    rate_bp: StrictInt = Field(ge=0, le=BASIS_POINTS)
    source: str = ""

    def covers(self, year: int) -> bool:
        return self.from_year <= year and (self.to_year is None or year <= self.to_year)


class TemporaryAccountRule(_Model):
    """Ages from which someone moving in keeps the relation in the old city (临时缴费账户)."""

    male_age: StrictInt = Field(ge=16, le=70)
    female_age: StrictInt = Field(ge=16, le=70)


class TransferRules(_Model):
    step_working_days: StrictInt = Field(ge=1, le=60)
    pooled_rate_bp: StrictInt = Field(ge=0, le=BASIS_POINTS)
    pooled_from_year: StrictInt = Field(ge=1990, le=2100)
    individual_account_rates: list[AccountRate] = Field(min_length=1)
    temporary_account: TemporaryAccountRule
    pension_place_min_years: StrictInt = Field(ge=1, le=40)

    @model_validator(mode="after")
    def _rates_do_not_overlap(self) -> TransferRules:
        rates = sorted(self.individual_account_rates, key=lambda r: r.from_year)
        for earlier, later in itertools.pairwise(rates):
            if earlier.to_year is None or earlier.to_year >= later.from_year:
                raise ValueError(
                    f"individual account rates overlap: {earlier.from_year}–{earlier.to_year} "
                    f"and {later.from_year}–"
                )
        return self

    def account_rate_bp(self, year: int) -> int:
        """The individual-account rate of ``year``; 0 before the first rate (pre-1998 balances
        come from the old city's records, not from this computation)."""
        for rate in self.individual_account_rates:
            if rate.covers(year):
                return rate.rate_bp
        return 0


class PensionPolicy(_Model):
    city: str
    city_code: str = Field(pattern=r"^\d{6}$")
    year: StrictInt
    transfer: TransferRules


def policy_path(year: int) -> Path:
    """The packaged policy in force in ``year``: the newest file of that year or before."""
    for candidate in range(year, year - 30, -1):
        path = packaged_policy_path(POLICY_CITY, f"pensions-{candidate}.yaml")
        if path.exists():
            return path
    raise PolicyError(f"no pension transfer policy of {POLICY_CITY} for {year} or any earlier year")


def load_pension_policy(year: int, *, allow_illustrative: bool = False) -> PensionPolicy:
    return load_policy_file(policy_path(year), PensionPolicy, allow_illustrative=allow_illustrative)
