"""A small demo city for the seeders that read other domains' demo data: 300 residents loaded
on the test node at 10:00 Beijing on Monday 2026-11-23, with the bus and canteen demos run."""

from __future__ import annotations

import datetime as dt
import random

from yikatong.canteens import demo as canteens_demo
from yikatong.core import clock, db
from yikatong.demo.load import load_demo
from yikatong.node import Node
from yikatong.transit import demo as transit_demo

TODAY = dt.date(2026, 11, 23)


def load_city_with_rides_and_meals(node: Node, fixed_clock: clock.FixedClock) -> None:
    fixed_clock.set(dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC))  # 10:00 Beijing
    db.Base.metadata.drop_all(node.engine)
    node.settings.demo = True
    load_demo(node, residents=300, seed=7, domains=())
    db.create_schema(node.engine)  # tables newer than the last migration
    transit_demo.seed_demo(node, random.Random(1))
    canteens_demo.seed_demo(node, random.Random(2))
