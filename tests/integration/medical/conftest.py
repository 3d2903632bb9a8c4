"""A client of a demo node: the Qingdao policies carry illustrative settlement figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from yikatong.api.app import create_app
from yikatong.core import clock
from yikatong.node import Node


@pytest.fixture
def demo_client(node: Node) -> Iterator[TestClient]:
    node.settings.demo = True
    with TestClient(create_app(node=node), raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def demo_node(node: Node, fixed_clock: clock.FixedClock) -> Node:
    """The test node running as the demo (the Qingdao settlement figures are illustrative)."""
    node.settings.demo = True
    return node


@pytest.fixture
def session(demo_node: Node) -> Iterator[Session]:
    """One open transaction on the demo node, committed at the end of the test."""
    with demo_node.transaction() as open_session:
        yield open_session


def beijing(day: dt.date, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock Beijing time on ``day``, as the UTC instant the clock holds."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC) - dt.timedelta(hours=8)
