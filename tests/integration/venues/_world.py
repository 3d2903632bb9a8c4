"""Shared steps of the venue tests: an operator, venues with products and gates, riders with
money on their cards (the acquiring test kit), and signed gate requests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Device, Kit, Rider, send
from yikatong.acquiring import service as acquiring
from yikatong.core import clock
from yikatong.essc import service as essc
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.venues import service as venues

OPERATOR = "qd-culture"
MUSEUM = "qd-museum"
PARK = "zhongshan-park"
TICKET = "qd-museum-ticket"  # 20 yuan, no slot
TIMED = "qd-museum-timed"  # 30 yuan, by time slot
PASS = "zhongshan-park-pass"  # 100 yuan, 365 days, 3 entries
_LOCAL = dt.timezone(dt.timedelta(hours=8))


@dataclass
class World:
    node: Node
    kit: Kit
    gate: Device
    park_gate: Device

    def rider(self, *, birth: dt.date = dt.date(1985, 6, 1), money: int = 100_000) -> Rider:
        rider = self.kit.rider(birth=birth)
        if money:
            self.kit.fund(rider, fin=money)
        return rider

    def balance(self, rider: Rider) -> int:
        with self.node.transaction() as session:
            return int(
                ledger.balance(session, acquiring.card_account(session, rider.card_no, "fin"))
            )

    def operator_settled(self) -> int:
        with self.node.transaction() as session:
            merchant = acquiring.get_merchant(session, OPERATOR)
            return int(ledger.balance(session, merchant.settlement_account_id))

    def ticket(self, rider: Rider, product: str = TICKET, key: str = "k1", **kw: Any) -> Any:
        with self.node.transaction() as session:
            return venues.buy_ticket(session, rider.resident_id, product, idempotency_key=key, **kw)

    def annual_pass(self, rider: Rider, key: str = "p1") -> Any:
        with self.node.transaction() as session:
            return venues.buy_pass(session, rider.resident_id, PASS, idempotency_key=key)

    def slots(self, capacity: int, count: int = 2) -> list[int]:
        with self.node.transaction() as session:
            made = venues.open_slots(
                session,
                MUSEUM,
                day=clock.now().astimezone(_LOCAL).date(),
                first_start=dt.time(10, 0),
                minutes=60,
                count=count,
                capacity=capacity,
            )
            return [slot.id for slot in made]

    def scan(self, device: Device | None = None, **kw: Any) -> Any:

        device = device or self.gate
        with self.node.transaction() as session:
            terminal = acquiring.get_terminal(session, device.terminal_no)
            seq = kw.pop("scan_seq", None) or next(device.seq)
            entry = venues.check_entry(session, terminal, scan_seq=seq, **kw)
            return entry.outcome.value, entry.reason, entry

    def qr(self, rider: Rider, level: str = "L1") -> str:
        with self.node.transaction() as session:
            account = essc.account_of(session, rider.resident_id)
            if account is None:
                account = essc.bind_account(
                    session, rider.resident_id, f"app-{rider.resident_id}", actor="test"
                )
                essc.set_pin(session, account.id, "123456")
            return essc.issue_qr(session, rider.resident_id, level, pin="123456").text

    def post_scan(self, client: TestClient, body: dict[str, Any], **kw: Any) -> httpx.Response:
        return send(client, self.gate, "/api/v1/terminal/venue-entries", body, **kw)


def build_world(node: Node) -> World:
    node.settings.demo = True  # the packaged venue policy carries illustrative values
    kit = Kit(node)
    kit.merchant(OPERATOR, "venue", "青岛市文旅集团")
    with node.transaction() as session:
        venues.add_venue(
            session, code=MUSEUM, name="青岛市博物馆", category="museum", operator=OPERATOR
        )
        venues.add_venue(session, code=PARK, name="中山公园", category="park", operator=OPERATOR)
        venues.add_product(
            session, venue_code=MUSEUM, code=TICKET, kind="ticket", name="门票", price=2000
        )
        venues.add_product(
            session,
            venue_code=MUSEUM,
            code=TIMED,
            kind="ticket",
            name="特展预约票",
            price=3000,
            needs_slot=True,
        )
        venues.add_product(
            session,
            venue_code=PARK,
            code=PASS,
            kind="annual_pass",
            name="公园年卡",
            price=10000,
            validity_days=365,
            entry_limit=3,
        )
    gates = []
    for venue, number in ((MUSEUM, "GATE-MUSEUM-01"), (PARK, "GATE-PARK-01")):
        with node.transaction() as session:
            _, private = venues.register_gate(session, venue, number)
        assert private is not None
        gates.append(Device(number, "Ed25519", private))
    return World(node, kit, gates[0], gates[1])
