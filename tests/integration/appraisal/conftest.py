"""Appraisal runs on demo nodes: the panel composition in the Qingdao policy is illustrative."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.integration.federation.conftest import league, yantai_node
from yikatong.api.app import create_app
from yikatong.core import clock
from yikatong.node import Node

__all__ = ["league", "yantai_node"]


@pytest.fixture
def demo_node(fixed_clock: clock.FixedClock, node: Node) -> Node:
    node.settings.demo = True
    return node


@pytest.fixture
def demo_client(demo_node: Node) -> Iterator[TestClient]:
    with TestClient(create_app(node=demo_node), raise_server_exceptions=True) as test_client:
        yield test_client
