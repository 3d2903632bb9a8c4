"""Fixtures of the venue tests: the fixed clock (2025-03-10 10:00 Beijing) and a small world."""

from __future__ import annotations

import pytest

from tests.integration.venues._world import World, build_world
from yikatong.core import clock
from yikatong.node import Node


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@pytest.fixture
def world(node: Node) -> World:
    return build_world(node)
