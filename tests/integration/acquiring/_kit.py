"""Shared steps of the acquiring and transit tests: residents with active cards, merchants,
terminals holding real keys, money in the purses, and signed terminal requests."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.ids import make_resident_id
from yikatong.node import Node
from yikatong.registry import service as registry_service
from yikatong.transit import service as transit
from yikatong.transit.bank import SandboxBank

CLERK = "clerk-acquiring-test"
_order = itertools.count(1)


@dataclass(frozen=True)
class Rider:
    resident_id: int
    card_no: str
    card_ref: str


@dataclass
class Device:
    terminal_no: str
    algorithm: str
    private_key: bytes
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def headers(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        seq: int | None = None,
        at: dt.datetime | None = None,
    ) -> dict[str, str]:
        sequence = next(self.seq) if seq is None else seq
        timestamp = int((at or clock.now()).timestamp())
        signature = acquiring.sign_request(
            self.private_key,
            self.algorithm,
            terminal_no=self.terminal_no,
            timestamp=timestamp,
            seq=sequence,
            method=method,
            path=path,
            body=body,
        )
        return {
            "X-Terminal": self.terminal_no,
            "X-Timestamp": str(timestamp),
            "X-Sequence": str(sequence),
            "X-Signature": signature,
            "Content-Type": "application/json",
        }


@dataclass
class Kit:
    node: Node

    def rider(self, *, birth: dt.date = dt.date(1985, 6, 1), active: bool = True) -> Rider:
        n = next(_order)
        with self.node.transaction() as session:
            resident = registry_service.enrol_resident(
                session,
                registry_service.ResidentInput(
                    id_number=make_resident_id("370202", birth, n % 999 + 1),
                    name="乘客" + str(n),
                    district_code="370202",
                ),
                actor=CLERK,
            )
            card = cards_service.apply_for_card(session, resident.id, actor=CLERK)
            card_no, card_ref = card.card_no, card.card_ref
            if active:
                cards_service.issue_card(session, card_no, actor=CLERK, reason="made")
                cards_service.activate_card(session, card_no, actor=CLERK, reason="received")
        return Rider(resident.id, card_no, card_ref)

    def merchant(self, code: str, kind: str, name: str = "测试商户") -> None:
        with self.node.transaction() as session:
            acquiring.register_merchant(
                session, code=code, name=name, kind=acquiring.MerchantKind(kind)
            )

    def device(
        self,
        terminal_no: str,
        merchant: str,
        *,
        algorithm: str = "Ed25519",
        line: str | None = None,
    ) -> Device:
        with self.node.transaction() as session:
            _, private = acquiring.register_terminal(
                session,
                terminal_no=terminal_no,
                merchant_code=merchant,
                algorithm=algorithm,
                line=line,
            )
        assert private is not None
        return Device(terminal_no, algorithm, private)

    def fund(self, rider: Rider, *, fin: int = 0, transport: int = 0) -> None:
        """Pay ``fin + transport`` fen into the financial account, then top up ``transport``."""
        n = next(_order)
        with self.node.transaction() as session:
            SandboxBank().deposit(
                session, card_no=rider.card_no, amount=fin + transport, reference=f"dep-{n}"
            )
            if transport:
                transit.top_up(
                    session, card_no=rider.card_no, amount=transport, idempotency_key=f"tu-{n}"
                )

    def transport(self, rider: Rider) -> int:
        with self.node.transaction() as session:
            return transit.transport_balance(session, rider.card_no)


def send(
    client: TestClient, device: Device, path: str, body: Any, *, method: str = "POST", **kw: Any
) -> httpx.Response:
    raw = json.dumps(body).encode() if body is not None else b""
    headers = device.headers(method, path, raw, **kw)
    return client.request(method, path, content=raw, headers=headers)
