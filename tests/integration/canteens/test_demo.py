"""The canteen demo seeder on a freshly loaded demo city: canteens in three districts with
funded budgets, struggling elders, a few days of meals whose subsidies reconcile with the
budgets, and nothing added when it runs again."""

from __future__ import annotations

import random

from yikatong.canteens import demo, service
from yikatong.core import db
from yikatong.demo.load import load_demo
from yikatong.ledger import service as ledger
from yikatong.node import Node


def test_the_demo_city_has_canteens_in_three_districts_with_meals(node: Node) -> None:
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    load_demo(node, residents=300, seed=7, domains=())
    db.create_schema(node.engine)  # tables newer than the last migration
    figures = demo.seed_demo(node, random.Random(3))
    assert figures["canteens"] == 5 and figures["struggling"] >= 1
    assert figures["meals"] > 10 and figures["subsidy_fen"] > 0
    with node.transaction() as session:
        assert {c.district_code for c in service.list_canteens(session)} == {
            "370202",
            "370203",
            "370212",
        }
        budgets = service.list_budgets(session)
        assert len(budgets) == 3
        granted = sum(b.granted - (b.funded - demo.BUDGET) for b in budgets)
        report = service.subsidy_report(session)
        assert sum(r.subsidy for r in report.by_month) == figures["subsidy_fen"] == granted
        assert sum(r.meals for r in report.by_month) == figures["meals"]
        assert ledger.verify(session) == []
    keys = (node.settings.data_dir / "demo" / "terminal-keys.tsv").read_text().splitlines()
    assert sum(line.startswith("CANTEEN-") for line in keys) == 5
    assert demo.seed_demo(node, random.Random(3)) == {"canteens": 5}
