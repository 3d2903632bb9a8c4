"""Fixtures of the transit tests: a fixed clock, demo policies, and the test kit."""

from __future__ import annotations

import pytest

from tests.integration.acquiring._kit import Kit
from yikatong.core import clock
from yikatong.node import Node


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@pytest.fixture
def kit(node: Node) -> Kit:
    # The packaged fare policy carries illustrative values: accepted in the demo only.
    node.settings.demo = True
    return Kit(node)
