"""Fixtures of the canteen tests: a fixed clock (2025-03-10 10:00 Beijing), a demo node (the
district add-ons are illustrative), canteens with tills and funded budgets, elderly diners."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Device, Kit, Rider, send
from yikatong.acquiring import service as acquiring
from yikatong.canteens import service
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.node import Node

MEALS = "/api/v1/terminal/canteen-meals"
STAFF = "clerk-canteen-test"
SHINAN, SHIBEI = "370202", "370203"
# 2025-03-10: 75 years old, 65, 45.
AGED_75 = dt.date(1950, 1, 1)
AGED_65 = dt.date(1960, 1, 1)
AGED_45 = dt.date(1980, 1, 1)


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@dataclass
class Canteens:
    kit: Kit

    @property
    def node(self) -> Node:
        return self.kit.node

    def canteen(self, code: str, district: str, *, budget: int = 1_000_000) -> Device:
        with self.node.transaction() as session:
            service.register_canteen(
                session, code=code, name=f"{code} 长者食堂", district_code=district, actor=STAFF
            )
            if budget:
                service.fund_budget(
                    session, district, amount=budget, reference=f"fund-{code}", actor=STAFF
                )
        return self.kit.device(f"TILL-{code.upper()}", code)

    def diner(self, birth: dt.date, *, fin: int = 10_000) -> Rider:
        rider = self.kit.rider(birth=birth)
        if fin:
            self.kit.fund(rider, fin=fin)
        return rider

    def card_balance(self, rider: Rider) -> int:
        with self.node.transaction() as session:
            return int(
                ledger.balance(session, acquiring.card_account(session, rider.card_no, "fin"))
            )

    def budget(self, district: str) -> int:
        with self.node.transaction() as session:
            return int(
                ledger.balance(
                    session,
                    ledger.get_account_by_code(session, service.budget_account_code(district)).id,
                )
            )

    def settlement(self, merchant: str) -> int:
        with self.node.transaction() as session:
            m = acquiring.get_merchant(session, merchant)
            return int(ledger.balance(session, m.settlement_account_id))

    def meal(
        self, client: TestClient, till: Device, rider: Rider, amount: str, *, seq: int | None = None
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "terminal_seq": seq if seq is not None else next(_seqs),
            "card_no": rider.card_no,
            "amount": amount,
        }
        response = send(client, till, MEALS, body)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result


_seqs = iter(range(1, 10**9))


@pytest.fixture
def canteens(node: Node) -> Canteens:
    node.settings.demo = True
    return Canteens(Kit(node))
