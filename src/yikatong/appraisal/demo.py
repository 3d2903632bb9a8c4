"""Appraisal demo data: a pool of ~30 experts of the five Jiaodong cities, and cases with a drawn
panel, a declined and redrawn seat, and a signed conclusion."""

from __future__ import annotations

import random

from yikatong.appraisal import service
from yikatong.appraisal.policy import AppraisalKind, InjuryCategory
from yikatong.node import Node
from yikatong.registry import service as registry

ACTOR = "demo"
# (city code, short code, hospitals) of the Jiaodong league (胶东经济圈).
CITIES = (
    ("370200", "QD", ("青岛大学附属医院", "青岛市市立医院", "青岛市中心医院")),
    ("370600", "YT", ("烟台毓璜顶医院", "烟台山医院")),
    ("370700", "WF", ("潍坊市人民医院", "潍坊医学院附属医院")),
    ("371000", "WH", ("威海市立医院",)),
    ("371100", "RZ", ("日照市人民医院",)),
)
SPECIALITIES = (
    "骨科", "康复医学", "神经外科", "神经内科", "精神科", "呼吸内科", "心血管内科",
    "职业病科", "眼科", "耳鼻喉科", "肿瘤科",
)  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = ("建国", "海燕", "志强", "秀英", "立新", "红梅", "文杰", "静", "明", "晓东", "丽娟", "伟")
EMPLOYERS = ("青岛港集团", "海尔集团", "烟台万华化学", "潍柴动力", "威海港", "日照钢铁")


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    figures = {"experts": 0, "cases": 0, "declined_seats": 0, "concluded": 0}
    with node.transaction() as session:
        number = 0
        for city, short, hospitals in CITIES:
            count = 10 if city == "370200" else 5
            for index in range(1, count + 1):
                number += 1
                # Every speciality is held by at least two experts of the pool.
                first = SPECIALITIES[number % len(SPECIALITIES)]
                second = SPECIALITIES[(number + 4) % len(SPECIALITIES)]
                service.add_expert(
                    session,
                    code=f"{short}-{index:03d}",
                    name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                    city_code=city,
                    employer=rng.choice(hospitals),
                    specialities=[first, second],
                    actor=ACTOR,
                )
                figures["experts"] += 1
        residents = registry.search_residents(session, limit=200)
        if len(residents) < 4:
            return figures
        people = rng.sample(residents, 4)
        kinds = (
            (AppraisalKind.INITIAL, InjuryCategory.LIMB),
            (AppraisalKind.INITIAL, InjuryCategory.HEAD),
            (AppraisalKind.REPEAT, InjuryCategory.LIMB),
            (AppraisalKind.NON_WORK, InjuryCategory.INTERNAL),
        )
        cases = []
        for person, (kind, category) in zip(people, kinds, strict=True):
            case = service.open_case(
                session, person.id, kind=kind, category=category,
                employer=rng.choice(EMPLOYERS), actor=ACTOR,
            )  # fmt: skip
            cases.append(case)
            figures["cases"] += 1
        # The first stays open; the others get a panel drawn with a recorded seed.
        for case in cases[1:]:
            service.draw_panel(session, case.id, actor=ACTOR, seed=f"demo-{rng.randrange(10**8)}")
        service.decline_seat(session, cases[2].id, 1, reason="出差，无法参加", actor=ACTOR)
        figures["declined_seats"] += 1
        service.conclude(session, cases[1].id, grade="7", actor=ACTOR)
        service.conclude(session, cases[3].id, grade="partial", actor=ACTOR)
        figures["concluded"] += 2
    return figures
