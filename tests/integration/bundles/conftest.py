"""Fixtures of the bundle tests: a demo node (the bundle deadlines are illustrative) at
2025-03-10, residents, a funded pension programme and a funeral grant programme."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest

from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.money import yuan
from yikatong.node import Node
from yikatong.registry import service as registry

CLERK = "clerk-bundles"
CHECKER = "clerk-checker"
_order = itertools.count(1)


@pytest.fixture
def demo_node(node: Node, fixed_clock: clock.FixedClock) -> Node:
    node.settings.demo = True
    return node


@dataclass
class Town:
    node: Node

    def resident(
        self,
        name: str = "王建国",
        *,
        born: dt.date = dt.date(1965, 2, 1),
        bank_account: str | None = "6222020200112233",
    ) -> int:
        n = next(_order)
        with self.node.transaction() as session:
            resident = registry.enrol_resident(
                session,
                registry.ResidentInput(
                    id_number=make_resident_id("370202", born, (2 * n + 1) % 999),
                    name=name,
                    district_code="370202",
                    household_no=f"H{n:04d}",
                    bank_account=bank_account,
                ),
                actor=CLERK,
            )
            return resident.id

    def relate(self, resident_id: int, relative_id: int, relation: str) -> None:
        with self.node.transaction() as session:
            registry.add_relative(
                session, resident_id, relative_id, registry.RelationType(relation), actor=CLERK
            )

    def programme(self, code: str, kind: ProgrammeKind, *, fund: int = yuan(100_000)) -> int:
        with self.node.transaction() as session:
            programme = benefits.add_programme(
                session, code=code, kind=kind, actor=CLERK, allow_illustrative=True
            )
            benefits.fund_programme(
                session, programme.id, amount=fund, reference=f"CZ-{code}", actor=CLERK
            )
            return programme.id


@pytest.fixture
def town(demo_node: Node) -> Town:
    return Town(demo_node)
