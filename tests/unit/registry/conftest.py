"""Unit tests of the registry run on a fixed date: ID numbers are checked against "today"."""

from __future__ import annotations

import pytest

from yikatong.core import clock


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock
