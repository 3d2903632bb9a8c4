"""Read-only staff API: packaged policies and the what-if settlement calculator.

Nothing is written: a policy is read from the packaged files, a what-if is computed. Illustrative
policy values are served only when the node runs as the demo (``YKT_DEMO=true``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from yikatong.api.auth import Principal, require
from yikatong.api.deps import NodeDep
from yikatong.core.money import format_yuan
from yikatong.medical import service
from yikatong.medical.policy import MedicalPolicy, OffsiteCase, Yuan
from yikatong.medical.rules import NO_FEN, ClaimItem, ItemClass, Settlement

router = APIRouter(prefix="/api/v1/medical", tags=["medical"])

StaffDep = Annotated[Principal, require("clerk", "auditor", "admin")]

_YUAN_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d{1,13}(\.\d{1,2})?$", "examples": ["120.50"]},
        {"type": "integer", "minimum": 0},
    ],
    "description": "yuan, at most two decimals, not negative",
}
YuanIn = Annotated[Yuan, WithJsonSchema(_YUAN_SCHEMA, mode="validation")]
City = Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
Year = Annotated[int, PathParam(ge=2000, le=2100)]


class PolicyOut(BaseModel):
    policy: MedicalPolicy
    illustrative: list[str] = Field(description="paths of values the city has not published")


@router.get("/policies/{city}/{year}", response_model=PolicyOut)
def get_policy(city: City, year: Year, node: NodeDep, _staff: StaffDep) -> PolicyOut:
    """A city's resident medical insurance policy for one cover year (money as yuan strings,
    ratios in basis points)."""
    policy = service.policy_for(city, year, allow_illustrative=node.settings.demo)
    return PolicyOut(policy=policy, illustrative=list(policy.illustrative))


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    item_class: ItemClass = Field(alias="class", description="A 甲类, B 乙类, C 丙类")
    quantity: int = Field(ge=1, le=100_000)
    unit_price: YuanIn
    name: str = Field(default="", max_length=200)


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    city: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40, examples=["qingdao"])
    year: int = Field(ge=2000, le=2100, examples=[2025])
    level: Literal[1, 2, 3] = Field(description="institution level 1, 2 or 3")
    items: list[ItemIn] = Field(min_length=1, max_length=500)
    spent_ytd: YuanIn = Field(default=NO_FEN, description="in-catalogue yuan settled this year")
    offsite: OffsiteCase | None = None
    continuous_years: int = Field(default=0, ge=0, le=100)
    personal_account: YuanIn = NO_FEN
    family_account: YuanIn = NO_FEN


class LineOut(BaseModel):
    code: str
    label_zh: str
    label_en: str
    amount: str = Field(description="yuan")
    detail: str


class PayersOut(BaseModel):
    total: str
    fund: str
    critical_illness: str
    personal_account: str
    family_account: str
    cash: str


class WhatIfOut(BaseModel):
    city: str
    year: int
    level: int
    ratio_bp: int
    payers: PayersOut
    lines: list[LineOut]
    illustrative: list[str]


def _payers(settlement: Settlement) -> PayersOut:
    return PayersOut(
        total=format_yuan(settlement.total),
        fund=format_yuan(settlement.fund),
        critical_illness=format_yuan(settlement.critical_illness),
        personal_account=format_yuan(settlement.personal_account),
        family_account=format_yuan(settlement.family_account),
        cash=format_yuan(settlement.cash),
    )


@router.post("/what-if", response_model=WhatIfOut)
def what_if(body: WhatIfIn, node: NodeDep, _staff: StaffDep) -> WhatIfOut:
    """Who pays what for a bill: fund, critical-illness insurance, accounts, cash (费用测算)."""
    result = service.what_if(
        body.city,
        body.year,
        institution_level=body.level,
        items=[
            ClaimItem(item.item_class, item.quantity, item.unit_price, item.name)
            for item in body.items
        ],
        spent_ytd=body.spent_ytd,
        offsite=body.offsite,
        continuous_years=body.continuous_years,
        personal_account=body.personal_account,
        family_account=body.family_account,
        allow_illustrative=node.settings.demo,
    )
    settlement = result.settlement
    return WhatIfOut(
        city=result.policy.city,
        year=result.policy.year,
        level=body.level,
        ratio_bp=settlement.ratio_bp,
        payers=_payers(settlement),
        lines=[
            LineOut(
                code=line.code,
                label_zh=line.label_zh,
                label_en=line.label_en,
                amount=format_yuan(line.amount),
                detail=line.detail,
            )
            for line in settlement.lines
        ],
        illustrative=list(result.policy.illustrative),
    )
