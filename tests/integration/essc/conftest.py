"""Fixtures of the e-SSC tests: a fixed clock, and residents with cards made through the
registry and cards services, each step in its own committed transaction."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest

from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.essc import service
from yikatong.node import Node
from yikatong.registry import service as registry_service

CLERK = "clerk-essc-test"
_order = itertools.count(1)


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@dataclass(frozen=True)
class Person:
    resident_id: int
    card_no: str | None
    card_ref: str | None


@dataclass
class People:
    """Makes residents (and their cards, accounts, relations) on the test node."""

    node: Node

    def resident(
        self,
        *,
        name: str = "王小明",
        birth: dt.date = dt.date(1985, 6, 1),
        card: bool = True,
        active: bool = True,
    ) -> Person:
        n = next(_order)
        with self.node.transaction() as session:
            resident = registry_service.enrol_resident(
                session,
                registry_service.ResidentInput(
                    id_number=make_resident_id("370202", birth, n % 999 + 1),
                    name=name,
                    district_code="370202",
                ),
                actor=CLERK,
            )
            if not card:
                return Person(resident.id, None, None)
            issued = cards_service.apply_for_card(session, resident.id, actor=CLERK)
            card_no, card_ref = issued.card_no, issued.card_ref
        if active:
            with self.node.transaction() as session:
                cards_service.issue_card(session, card_no, actor=CLERK, reason="made")
                cards_service.activate_card(session, card_no, actor=CLERK, reason="received")
        return Person(resident.id, card_no, card_ref)

    def account(self, person: Person, *, pin: str | None = None) -> int:
        with self.node.transaction() as session:
            account = service.bind_account(
                session, person.resident_id, f"app-{person.resident_id}", actor=CLERK
            )
            if pin is not None:
                service.set_pin(session, account.id, pin)
            return account.id

    def relate(
        self,
        person: Person,
        relative: Person,
        relation: registry_service.RelationType = registry_service.RelationType.SIBLING,
    ) -> None:
        with self.node.transaction() as session:
            registry_service.add_relative(
                session, person.resident_id, relative.resident_id, relation, actor=CLERK
            )


@pytest.fixture
def people(node: Node) -> People:
    return People(node)
