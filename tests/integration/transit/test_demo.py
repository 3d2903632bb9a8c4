"""The acquiring and transit demo seeders on a freshly loaded demo city: operators and
terminals, top-ups, a few days of online and offline rides, and clearing files that reconcile."""

from __future__ import annotations

import datetime as dt
import random

from yikatong.acquiring import demo as acquiring_demo
from yikatong.acquiring import service as acquiring
from yikatong.core import db
from yikatong.demo.load import DemoReport, load_demo
from yikatong.node import Node
from yikatong.transit import demo as transit_demo
from yikatong.transit import service as transit


def _demo_city(node: Node) -> DemoReport:
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    report = load_demo(node, residents=80, seed=7, domains=())
    # Tables of domains newer than the last migration (none once the next one is generated).
    db.create_schema(node.engine)
    return report


def test_the_demo_city_rides_for_a_few_days_and_clears_them(node: Node) -> None:
    report = _demo_city(node)
    operators = acquiring_demo.seed_demo(node, random.Random(1))
    assert operators["merchants"] == 2 and operators["terminals"] >= 4 + 13
    keys = (node.settings.data_dir / "demo" / acquiring_demo.KEYS_FILE).read_text().splitlines()
    assert len(keys) == operators["terminals"]
    rides = transit_demo.seed_demo(node, random.Random(2))
    assert rides["top_ups"] >= 40
    assert rides["online_rides"] > 50 and rides["offline_rides"] > 10
    assert rides["duplicates_recognised"] == 3 * rides["offline_batches"] > 0
    assert rides["clearing_runs"] == 2 * transit_demo.DAYS
    today = dt.date(2025, 3, 10)
    with node.transaction() as session:
        for back in range(1, transit_demo.DAYS + 1):
            day = today - dt.timedelta(days=back)
            text = acquiring.clearing_csv(session, day)
            assert text.count(",total,") == 2
            assert ",offline," in text and ",online," in text
            assert all(row.balanced for row in acquiring.reconcile(session, day))
        # The e-SSC account holders were topped up; every fen of it is a fare or still there.
        for account in report.accounts:
            fares = sum(
                r.fare
                for r in transit.ride_history(session, account.resident_id, limit=1000)
                if r.status == "approved"
            )
            balance = transit.transport_balance(session, account.card_no)
            assert balance + fares == transit_demo.TOP_UP
    # Running the operators' seeder again registers nothing new.
    assert acquiring_demo.seed_demo(node, random.Random(1)) == operators
