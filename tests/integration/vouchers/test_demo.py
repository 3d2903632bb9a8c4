"""The voucher demo seeder on a freshly loaded demo city: seed 002's campaign started
yesterday, claims and redemptions, and nothing added when it runs again."""

from __future__ import annotations

import random

from yikatong.core import db
from yikatong.demo.load import load_demo
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.vouchers import demo, service


def test_the_demo_city_runs_the_appliance_voucher_campaign(node: Node) -> None:
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    load_demo(node, residents=120, seed=7, domains=())
    db.create_schema(node.engine)  # tables newer than the last migration
    figures = demo.seed_demo(node, random.Random(5))
    assert figures["claimed"] >= demo.CLAIMERS and figures["redeemed"] > 0
    with node.transaction() as session:
        report = service.campaign_report(session, demo.CODE)
        assert [t.code for t in report.types] == ["8000-600", "5000-500", "2000-300"]
        assert sum(t.redeemed for t in report.types) == figures["redeemed"]
        assert sum(t.claimed for t in report.types) == figures["claimed"]
        assert report.paid == sum(t.discount_paid for t in report.types) > 0
        assert report.budget == demo.BUDGET
        # One appliance came back: its discount returned to the campaign, the voucher given back.
        assert figures["refunded"] == 1
        assert sum(t.refunded for t in report.types) == 1
        assert report.clawed_back > 0
        assert (
            report.subsidy
            == report.paid - report.clawed_back
            == sum(t.subsidy for t in report.types)
        )
        assert ledger.verify(session) == []
    assert demo.seed_demo(node, random.Random(5)) == {"campaigns": 1}
