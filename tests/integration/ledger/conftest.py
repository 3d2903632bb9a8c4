"""Fixtures of the ledger tests: a fixed clock, a session on the test node, a few accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.integration.ledger._books import Books, open_books
from yikatong.core import clock
from yikatong.node import Node


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@pytest.fixture
def session(node: Node) -> Iterator[Session]:
    """One open transaction on the test node, committed at the end of the test."""
    with node.transaction() as open_session:
        yield open_session


@pytest.fixture
def books(session: Session) -> Books:
    return open_books(session)
