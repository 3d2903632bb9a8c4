"""Fixtures of the disbursement tests: a demo node (the benefit defaults are illustrative), a
fixed clock in March 2025, residents with payout accounts and a funded pension programme."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from yikatong.benefits import service
from yikatong.benefits.models import ProgrammeKind
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.money import yuan
from yikatong.node import Node
from yikatong.registry import service as registry

MAKER = "clerk-maker"
CHECKER = "clerk-checker"
_order = itertools.count(1)


@pytest.fixture
def demo_node(node: Node, fixed_clock: clock.FixedClock) -> Node:
    node.settings.demo = True
    return node


@dataclass
class World:
    node: Node

    def resident(
        self, name: str = "王小明", *, bank_account: str | None = "6222020200112233"
    ) -> int:
        n = next(_order)
        with self.node.transaction() as session:
            resident = registry.enrol_resident(
                session,
                registry.ResidentInput(
                    id_number=make_resident_id("370202", dt.date(1950, 1, 1), n % 999 + 1),
                    name=name,
                    district_code="370202",
                    bank_account=bank_account,
                ),
                actor=MAKER,
            )
            return resident.id

    def pension(self, residents: Iterable[int], *, fund: int = yuan(100_000)) -> int:
        with self.node.transaction() as session:
            programme = service.add_programme(
                session,
                code="pension",
                kind=ProgrammeKind.BASIC_PENSION,
                actor=MAKER,
                allow_illustrative=True,
            )
            service.fund_programme(
                session, programme.id, amount=fund, reference="CZ-2025-1", actor=MAKER
            )
            for rid in residents:
                service.enrol_beneficiary(
                    session, programme.id, rid, actor=MAKER, first_period=dt.date(2025, 1, 1)
                )
            return programme.id


@pytest.fixture
def world(demo_node: Node) -> World:
    return World(demo_node)


def bank_lines(bank_file: str) -> tuple[list[str], list[list[str]]]:
    """Header and payment rows of a bank file."""
    rows = list(csv.reader(io.StringIO(bank_file)))
    assert rows[0][0] == "H" and all(r[0] == "D" for r in rows[1:])
    return rows[0], rows[1:]


def return_file(rows: Iterable[tuple[int, int, str, str, str]]) -> str:
    """The bank's return file: (line id, amount fen, status, bank reference, reason)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(service.RETURN_HEADER)
    writer.writerows(rows)
    return out.getvalue()
