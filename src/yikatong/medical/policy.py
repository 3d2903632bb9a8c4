"""A city-year policy of resident medical insurance (城乡居民医保) as validated data.

Policy files live in ``yikatong/policies/<city>/<year>.yaml``. Units in the YAML:

* money is **yuan**, written as a number with at most two decimals (``462``, ``120.5``); it is
  held as integer fen (``Fen``) in the model and shown again as a yuan string (``"462.00"``);
* ratios are integer **basis points** (1 % = 100 bp, 100 % = 10000 bp), never floats.

Every field is required: a missing value is refused at load time with every missing path listed.
A figure the city has not published is written ``{value: …, illustrative: true, source: …}`` and
is accepted in the demo only (``allow_illustrative``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StrictBool,
    StrictInt,
    model_validator,
)

from yikatong.core.errors import InvalidInput, NotFound, PolicyError
from yikatong.core.money import Fen, format_yuan, parse_yuan
from yikatong.core.policy import packaged_policy_path, parse_policy, read_policy_yaml

BASIS_POINTS = 10_000  # 100 %


def _yuan_to_fen(value: object) -> int:
    """YAML/JSON yuan → fen; a float with more than two decimals is refused, never rounded."""
    if isinstance(value, bool):
        raise ValueError("must be a yuan amount, not true/false")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # repr gives the shortest text that reads back as this float: 120.5 → "120.5"
        text = repr(value)
    elif isinstance(value, str | Decimal):
        text = str(value)
    else:
        raise ValueError("must be a yuan amount such as 462 or 120.50")
    try:
        fen = parse_yuan(text)
    except InvalidInput as exc:
        raise ValueError(exc.detail) from None
    if fen < 0:
        raise ValueError("must not be negative")
    return fen


Yuan = Annotated[
    Fen,
    BeforeValidator(_yuan_to_fen),
    PlainSerializer(format_yuan, return_type=str),
    Field(description="yuan with at most two decimals, held as integer fen"),
]
BasisPoints = Annotated[
    StrictInt, Field(ge=0, le=BASIS_POINTS, description="basis points: 1 % = 100, 100 % = 10000")
]
Months = Annotated[StrictInt, Field(ge=0, le=120)]
Relation = Literal["spouse", "parent", "child", "sibling", "grandparent", "grandchild"]


class Category(StrEnum):
    """Contribution categories (缴费档次/人群)."""

    TIER1 = "tier1"  # 一档成年居民
    TIER2 = "tier2"  # 二档成年居民
    CHILD = "child"  # 少年儿童
    STUDENT = "student"  # 在校大学生


class InstitutionLevel(IntEnum):
    """Level of the designated institution (一级/二级/三级医疗机构)."""

    LEVEL1 = 1
    LEVEL2 = 2
    LEVEL3 = 3


class OffsiteCase(StrEnum):
    """How an off-site visit (异地就医) was filed; decides the reduction of the ratio."""

    FILED_LONG_TERM = "filed_long_term"  # 异地长期居住备案
    FILED_TEMPORARY = "filed_temporary"  # 临时外出就医备案
    REFERRAL_OR_EMERGENCY = "referral_or_emergency"  # 转诊转院 / 急诊抢救
    UNFILED_OTHER = "unfiled_other"  # 其他临时外出未备案


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ByCategory(_Strict):
    tier1: Yuan
    tier2: Yuan
    child: Yuan
    student: Yuan

    def of(self, category: Category) -> Fen:
        amount: Fen = getattr(self, category.value)
        return amount


class Contributions(_Strict):
    """Individual contribution (个人缴费) and fiscal subsidy (财政补助) per person per year."""

    individual: ByCategory
    subsidy: ByCategory


class CollectionWindow(_Strict):
    """Concentrated collection period (集中缴费期) for the cover year."""

    opens: dt.date
    closes: dt.date
    cover_starts: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> CollectionWindow:
        if self.opens > self.closes:
            raise ValueError(f"opens {self.opens} is after closes {self.closes}")
        return self


class WaitingPeriod(_Strict):
    """Waiting period (待遇等待期) rules.

    ``fixed_months`` applies to a payment after the window closes (seed 002: paid after 1 January
    → 3 months) and, when ``applies_to_broken_cover``, to anyone whose cover was broken (national
    2025 rule), plus ``months_per_gap_year`` for each uninsured year, less
    ``months_repaired_per_back_paid_year`` for each year paid back, never below
    ``long_gap_min_months`` after a gap of ``long_gap_years`` or more.
    """

    fixed_months: Months
    applies_to_broken_cover: StrictBool
    months_per_gap_year: Months
    months_repaired_per_back_paid_year: Months
    long_gap_years: Annotated[StrictInt, Field(ge=1, le=100)]
    long_gap_min_months: Months
    newborn_exempt_within_months: Months


class ContinuousReward(_Strict):
    """Continuous-enrolment reward (连续参保激励): the critical-illness cap rises by
    ``per_year`` for each continuous year beyond ``starts_after_years``, at most
    ``max_share_of_cap_bp`` of the original cap."""

    starts_after_years: Annotated[StrictInt, Field(ge=0, le=100)]
    per_year: Yuan
    max_share_of_cap_bp: BasisPoints


class ByLevelYuan(_Strict):
    level1: Yuan
    level2: Yuan
    level3: Yuan

    def of(self, level: InstitutionLevel) -> Fen:
        amount: Fen = getattr(self, f"level{int(level)}")
        return amount


class ByLevelBasisPoints(_Strict):
    level1: BasisPoints
    level2: BasisPoints
    level3: BasisPoints

    def of(self, level: InstitutionLevel) -> int:
        ratio: int = getattr(self, f"level{int(level)}")
        return ratio


class CriticalIllnessBand(_Strict):
    """One band of critical-illness insurance: the ratio paid on the year's eligible self-pay
    from the previous band's upper bound (or the threshold) up to ``up_to`` (``null``: no
    upper bound)."""

    up_to: Yuan | None
    ratio_bp: BasisPoints


class CriticalIllness(_Strict):
    """Critical-illness insurance (大病保险)."""

    threshold: Yuan
    bands: Annotated[list[CriticalIllnessBand], Field(min_length=1)]
    cap: Yuan

    @model_validator(mode="after")
    def _bands_ascend(self) -> CriticalIllness:
        lower = self.threshold
        for index, band in enumerate(self.bands):
            last = index == len(self.bands) - 1
            if band.up_to is None:
                if not last:
                    raise ValueError(f"bands[{index}] has no upper bound but is not the last band")
            else:
                if band.up_to <= lower:
                    raise ValueError(
                        f"bands[{index}].up_to must be above {format_yuan(lower)} "
                        "(the threshold or the previous band)"
                    )
                lower = band.up_to
                if last:
                    raise ValueError("the last band must have up_to: null (no upper bound)")
        return self


class Catalogue(_Strict):
    """Drug and service catalogue classes (甲/乙/丙类). Class A is wholly eligible, class C
    wholly self-paid (by definition, not configurable); class B is eligible after the patient
    pays ``class_b_self_pay_bp`` of it first (乙类先行自付)."""

    class_b_self_pay_bp: BasisPoints


class Settlement(_Strict):
    """Settlement parameters: deductible (起付线), ratios (报销比例), annual pooling cap (封顶线)."""

    deductible: ByLevelYuan
    reimbursement_bp: ByLevelBasisPoints
    annual_cap: Yuan
    critical_illness: CriticalIllness
    catalogue: Catalogue


class Offsite(_Strict):
    """Off-site care (异地就医): reduction of the reimbursement ratio, in basis points."""

    filed_long_term_reduction_bp: BasisPoints
    filed_temporary_reduction_bp: BasisPoints
    referral_or_emergency_reduction_bp: BasisPoints
    unfiled_other_reduction_bp: BasisPoints
    # a temporary work/study filing (临时外出工作/学习备案) is valid at least this long
    temporary_min_months: Annotated[StrictInt, Field(ge=1, le=120)]

    def reduction_bp(self, case: OffsiteCase | None) -> int:
        if case is None:
            return 0
        reduction: int = getattr(self, f"{case.value}_reduction_bp")
        return reduction


class FamilySharing(_Strict):
    """Relatives whose costs a personal account may pay (个人账户家庭共济)."""

    relations: Annotated[list[Relation], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> FamilySharing:
        if len(set(self.relations)) != len(self.relations):
            raise ValueError("relations must not repeat")
        return self


class Transfer(_Strict):
    """Transfer of the medical insurance relationship between cities (医保关系转移接续): the
    working-day limit of each step and the longest gap that keeps cover continuous."""

    # the old city closes the record and sends the contribution history (转出地)
    old_city_working_days: Annotated[StrictInt, Field(ge=1, le=60)]
    # the new city recognises the years and completes the transfer (转入地)
    new_city_working_days: Annotated[StrictInt, Field(ge=1, le=60)]
    # the whole transfer, from the request to completion (seed 000: 9 working days)
    end_to_end_working_days: Annotated[StrictInt, Field(ge=1, le=120)]
    # a gap of at most this many months: pay the missed months, no waiting period
    max_gap_months_without_wait: Annotated[StrictInt, Field(ge=0, le=24)]


class MedicalPolicy(_Strict):
    """One city's resident medical insurance rules for one cover year."""

    city: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    city_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    year: Annotated[StrictInt, Field(ge=2000, le=2100)]
    sources: Annotated[list[str], Field(min_length=1)]
    contributions: Contributions
    collection: CollectionWindow
    waiting_period: WaitingPeriod
    continuous_reward: ContinuousReward
    settlement: Settlement
    offsite: Offsite
    family_sharing: FamilySharing
    transfer: Transfer

    _illustrative: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _window_fits_the_year(self) -> MedicalPolicy:
        if self.collection.cover_starts != dt.date(self.year, 1, 1):
            raise ValueError(
                f"collection.cover_starts must be {self.year}-01-01 for the {self.year} policy"
            )
        if self.collection.closes > dt.date(self.year, 12, 31):
            raise ValueError(f"collection.closes must fall on or before {self.year}-12-31")
        return self

    @property
    def illustrative(self) -> tuple[str, ...]:
        """Paths whose values are illustrative (not published by the city)."""
        return self._illustrative

    @property
    def cover_ends(self) -> dt.date:
        return dt.date(self.year, 12, 31)


@dataclass(frozen=True)
class PolicyCheck:
    """Outcome of checking a policy file: what is wrong and what is only illustrative."""

    source: str
    policy: MedicalPolicy | None
    problems: tuple[str, ...]
    illustrative: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return self.policy is not None


_CITY = re.compile(r"^[a-z][a-z0-9_-]*$")


def load_medical_policy_file(path: Path, *, allow_illustrative: bool) -> MedicalPolicy:
    """Load one medical policy file; refuse it with every missing or wrong path listed."""
    policy, illustrative = parse_policy(
        read_policy_yaml(path),
        MedicalPolicy,
        source=str(path),
        allow_illustrative=allow_illustrative,
    )
    policy._illustrative = tuple(illustrative)
    return policy


def check_policy_file(path: Path) -> PolicyCheck:
    """Validate a policy file without refusing illustrative values, for ``policy check``."""
    try:
        data = read_policy_yaml(path)
        policy, illustrative = parse_policy(
            data, MedicalPolicy, source=str(path), allow_illustrative=True
        )
    except PolicyError as exc:
        problems = tuple(exc.extra.get("problems", [exc.detail]))
        return PolicyCheck(str(path), None, problems, ())
    policy._illustrative = tuple(illustrative)
    return PolicyCheck(str(path), policy, (), tuple(illustrative))


def available_policies() -> list[tuple[str, int]]:
    """Every packaged (city, year), sorted."""
    root = packaged_policy_path()
    found: list[tuple[str, int]] = []
    if root.is_dir():
        for city_dir in root.iterdir():
            if city_dir.is_dir() and _CITY.match(city_dir.name):
                for file in city_dir.glob("*.yaml"):
                    if file.stem.isdigit():
                        found.append((city_dir.name, int(file.stem)))
    return sorted(found)


def load_medical_policy(city: str, year: int, *, allow_illustrative: bool) -> MedicalPolicy:
    """The packaged policy of ``city`` for cover year ``year``.

    Raises ``NotFound`` naming the cities and years that exist, and ``PolicyError`` when the
    file is incomplete or illustrative outside the demo.
    """
    if not _CITY.match(city):
        raise InvalidInput(
            f"{city!r} is not a city name; use the lower-case pinyin of a city, e.g. qingdao",
            field="city",
        )
    shipped = available_policies()
    if (city, year) not in shipped:
        listing = ", ".join(f"{c} {y}" for c, y in shipped) or "none"
        raise NotFound(
            f"no resident medical insurance policy for {city} {year}; available: {listing}. "
            f"Add src/yikatong/policies/{city}/{year}.yaml to support it"
        )
    policy = load_medical_policy_file(
        packaged_policy_path(city, f"{year}.yaml"), allow_illustrative=allow_illustrative
    )
    if policy.city != city or policy.year != year:
        raise PolicyError(
            f"policy file {city}/{year}.yaml declares {policy.city} {policy.year}; "
            "fix its city/year fields"
        )
    return policy


def city_name_for_code(city_code: str) -> str | None:
    """The packaged policy city (``qingdao``) whose files declare ``city_code`` (``370200``)."""
    for city, year in available_policies():
        data = read_policy_yaml(packaged_policy_path(city, f"{year}.yaml"))
        declared = data.get("city_code")
        if isinstance(declared, dict):
            declared = declared.get("value")
        if str(declared) == city_code:
            return city
    return None
