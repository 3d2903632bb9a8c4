"""Registry test fixtures: a fixed clock (today is 2025-03-10), a session and a way to enrol."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.node import Node
from yikatong.registry import service
from yikatong.registry.models import Resident

_orders = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


def new_id_number(birth: dt.date = dt.date(1980, 5, 17), *, sex: str = "M") -> str:
    """A valid, unused ID number of a Shinan-district resident born on ``birth``."""
    order = next(_orders) * 2 % 1000
    return make_resident_id("370202", birth, order + (1 if sex == "M" else 0))


def resident_payload(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id_number": new_id_number(),
        "name": "王伟",
        "phone": "13812341234",
        "address": "山东省青岛市市南区香港中路10号",
        "district_code": "370202",
        "household_no": "370202000000001",
        "bank_account": "6228480012345675678",
    }
    values.update(changes)
    return values


Enrol = Callable[..., Resident]


@pytest.fixture
def enrol(node: Node) -> Enrol:
    """``enrol(birth=date(...), name=...)`` → a committed resident."""

    def make(birth: dt.date = dt.date(1980, 5, 17), sex: str = "M", **changes: object) -> Resident:
        payload = resident_payload(id_number=new_id_number(birth, sex=sex), **changes)
        with node.transaction() as session:
            return service.enrol_resident(
                session, service.ResidentInput.model_validate(payload), actor="clerk-test"
            )

    return make


@pytest.fixture
def session(node: Node) -> Iterator[Session]:
    with node.transaction() as open_session:
        yield open_session


def resident_count(node: Node) -> int:
    with node.transaction() as session:
        return session.scalar(select(func.count()).select_from(Resident)) or 0
