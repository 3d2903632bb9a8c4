"""A client of a demo node: the Qingdao policies carry illustrative settlement figures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from yikatong.api.app import create_app
from yikatong.node import Node


@pytest.fixture
def demo_client(node: Node) -> Iterator[TestClient]:
    node.settings.demo = True
    with TestClient(create_app(node=node), raise_server_exceptions=True) as test_client:
        yield test_client
