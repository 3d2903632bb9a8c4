"""The appraisal demo: a pool of 30 experts of five cities, panels, a redraw, signed conclusions."""

from __future__ import annotations

import random

from yikatong.appraisal import demo, service
from yikatong.core import clock, db
from yikatong.demo.load import load_demo
from yikatong.node import Node


def test_the_demo_pool_and_cases(fixed_clock: clock.FixedClock, node: Node) -> None:
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    load_demo(node, residents=60, seed=7, domains=())
    db.create_schema(node.engine)
    figures = demo.seed_demo(node, random.Random(4))
    assert figures == {"experts": 30, "cases": 4, "declined_seats": 1, "concluded": 2}
    with node.transaction() as session:
        assert service.pool_summary(session) == {
            "370200": 10,
            "370600": 5,
            "370700": 5,
            "371000": 5,
            "371100": 5,
        }
        cases = service.list_cases(session)
        assert sorted(c.status.value for c in cases) == ["concluded", "concluded", "open", "panel"]
        for case in cases:
            assert service.verify_draw(session, case.id) == []
            if case.conclusion is not None:
                service.verify_conclusion(case.conclusion, node.own_trust_list())
