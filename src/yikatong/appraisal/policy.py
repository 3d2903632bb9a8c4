"""The appraisal policy (劳动能力鉴定): panel seats by appraisal kind and injury category.

Files live in ``yikatong/policies/<city>/appraisal-<year>.yaml``; the newest file of a year or an
earlier one is in force. A panel has 3 or 5 seats (人社部令第21号 第十二条).
"""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from yikatong.core.errors import PolicyError
from yikatong.core.policy import load_policy_file, packaged_policy_path

POLICY_CITY = "qingdao"
PANEL_SIZES = (3, 5)


class AppraisalKind(enum.StrEnum):
    INITIAL = "initial"  # 初次鉴定
    RECHECK = "recheck"  # 复查鉴定
    REPEAT = "repeat"  # 再次鉴定
    NON_WORK = "non_work"  # 非因工丧失劳动能力鉴定


class InjuryCategory(enum.StrEnum):
    LIMB = "limb"  # 肢体
    HEAD = "head"  # 颅脑、神经、精神
    INTERNAL = "internal"  # 胸腹脏器、职业病
    SENSORY = "sensory"  # 眼、耳鼻喉


class AppraisalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    city: str
    city_code: str = Field(pattern=r"^\d{6}$")
    year: StrictInt
    panels: dict[AppraisalKind, dict[InjuryCategory, list[str]]]
    exclude_own_city: StrictBool

    @model_validator(mode="after")
    def _complete(self) -> AppraisalPolicy:
        for kind in AppraisalKind:
            seats = self.panels.get(kind)
            if seats is None:
                raise ValueError(f"panels.{kind.value} is missing")
            for category in InjuryCategory:
                panel = seats.get(category)
                if panel is None:
                    raise ValueError(f"panels.{kind.value}.{category.value} is missing")
                if len(panel) not in PANEL_SIZES:
                    raise ValueError(
                        f"panels.{kind.value}.{category.value} has {len(panel)} seats; a panel "
                        "has 3 or 5 (人社部令第21号 第十二条)"
                    )
                if any(not s.strip() for s in panel):
                    raise ValueError(f"panels.{kind.value}.{category.value} has an empty seat")
        return self

    def seats(self, kind: AppraisalKind, category: InjuryCategory) -> list[str]:
        return list(self.panels[kind][category])


def policy_path(year: int) -> Path:
    for candidate in range(year, year - 30, -1):
        path = packaged_policy_path(POLICY_CITY, f"appraisal-{candidate}.yaml")
        if path.exists():
            return path
    raise PolicyError(f"no appraisal policy of {POLICY_CITY} for {year} or any earlier year")


def load_appraisal_policy(year: int, *, allow_illustrative: bool = False) -> AppraisalPolicy:
    return load_policy_file(
        policy_path(year), AppraisalPolicy, allow_illustrative=allow_illustrative
    )
