"""Fixtures of the certification tests: a demo node (the certification and benefit defaults are
illustrative) with the clock at 2025-03-10, retirees with a pension, and the bank cycle."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from yikatong.benefits import service as benefits
from yikatong.benefits.models import ProgrammeKind
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.core.money import yuan
from yikatong.node import Node
from yikatong.registry import service as registry

MAKER = "clerk-maker"
CHECKER = "clerk-checker"
PENSION = yuan(3000)  # illustrative default of policies/qingdao/benefits-2025.yaml
_order = itertools.count(1)


@dataclass
class World:
    node: Node
    programme_id: int = 0

    def __post_init__(self) -> None:
        self.id_numbers: dict[int, str] = {}

    def resident(self, name: str = "王小明", *, district: str = "370202") -> tuple[int, str]:
        """A resident with a payout account: (id, ID number)."""
        n = next(_order)
        number = make_resident_id(district, dt.date(1950, 1, 1), n % 999 + 1)
        with self.node.transaction() as session:
            resident = registry.enrol_resident(
                session,
                registry.ResidentInput(
                    id_number=number,
                    name=name,
                    district_code=district,
                    address=f"{district} 幸福路 {n} 号",
                    bank_account="6222020200112233",
                ),
                actor=MAKER,
            )
            self.id_numbers[resident.id] = number
            return resident.id, number

    def retiree(
        self,
        name: str = "王小明",
        *,
        since: dt.date = dt.date(2024, 6, 1),
        district: str = "370202",
    ) -> int:
        """A pensioner paid from ``since`` (enrolled in person then: certified then)."""
        resident_id, _ = self.resident(name, district=district)
        with self.node.transaction() as session:
            if not self.programme_id:
                programme = benefits.add_programme(
                    session,
                    code="pension",
                    kind=ProgrammeKind.BASIC_PENSION,
                    actor=MAKER,
                    allow_illustrative=True,
                )
                benefits.fund_programme(
                    session, programme.id, amount=yuan(1_000_000), reference="CZ-1", actor=MAKER
                )
                self.programme_id = programme.id
            benefits.enrol_beneficiary(
                session, self.programme_id, resident_id, actor=MAKER, first_period=since
            )
        return resident_id

    def pay_month(self, period: dt.date) -> list[int]:
        """Generate, approve, export and have the bank pay the batch of ``period``."""
        with self.node.transaction() as session:
            batch = benefits.generate_batch(session, self.programme_id, period, actor=MAKER)
            benefits.approve_batch(session, batch.id, actor=CHECKER)
            benefits.export_bank_file(session, batch.id, actor=MAKER)
            lines = benefits.batch_lines(session, batch.id)
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(benefits.RETURN_HEADER)
            writer.writerows(
                (line.id, line.amount, "paid", f"CB{line.id:06d}", "") for line in lines
            )
            benefits.import_return_file(session, batch.id, out.getvalue(), actor=MAKER)
            return [line.id for line in lines]


@pytest.fixture
def world(node: Node, fixed_clock: clock.FixedClock) -> World:
    node.settings.demo = True
    return World(node)


def at(fixed_clock: clock.FixedClock, day: dt.date) -> None:
    """Move the clock to 10:00 Beijing time on ``day``."""
    fixed_clock.set(dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC))


def csv_file(rows: Iterable[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("id_number", "occurred_on", "source_ref"))
    writer.writerows(rows)
    return out.getvalue().encode()
