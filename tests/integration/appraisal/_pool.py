"""A small expert pool and a person to appraise."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from tests.integration.pensions._kit import enrol, person_id
from yikatong.appraisal import service

EMPLOYER = "海尔集团"


def pool(
    session: Session, city: str = "370200", prefix: str = "QD", per: int = 4
) -> dict[str, list[int]]:
    """``per`` experts for each of 骨科, 康复医学 and 神经内科, at two hospitals."""
    experts: dict[str, list[int]] = {}
    for speciality in ("骨科", "康复医学", "神经内科"):
        for n in range(per):
            expert = service.add_expert(
                session,
                code=f"{prefix}-{speciality}-{n}",
                name=f"专家{n}",
                city_code=city,
                employer=("青岛大学附属医院", "青岛市市立医院")[n % 2],
                specialities=[speciality],
                actor="t",
            )
            experts.setdefault(speciality, []).append(expert.id)
    return experts


def worker(session: Session, order: int = 41) -> tuple[int, str]:
    number = person_id(dt.date(1982, 4, 5), order)
    return enrol(session, number, "赵强"), number
