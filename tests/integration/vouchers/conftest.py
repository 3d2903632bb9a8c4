"""Fixtures of the voucher tests: a fixed clock (Monday 2025-03-10 10:00 Beijing, the moment of
the day's release), shops with tills, residents with cards, and a seed-002-like campaign."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Device, Kit, Rider, send
from yikatong.acquiring import service as acquiring
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.vouchers import service
from yikatong.vouchers.models import VoucherCampaign

REDEEM = "/api/v1/terminal/voucher-redemptions"
REFUND = "/api/v1/terminal/voucher-refunds"
CODE = "qd-appliances"
CST = dt.timezone(dt.timedelta(hours=8))
# seed 002: 8000−600, 5000−500, 2000−300 yuan.
TYPES = (
    service.TypeSpec(800_000, 60_000, 2),
    service.TypeSpec(500_000, 50_000, 2),
    service.TypeSpec(200_000, 30_000, 2),
)
BUDGET = 5_000_000  # 50 000 yuan: 11 days × 2 800 yuan of quotas fit


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=CST)


@pytest.fixture(autouse=True)
def _clock(fixed_clock: clock.FixedClock) -> clock.FixedClock:
    return fixed_clock


@dataclass
class Vouchers:
    kit: Kit
    till: Device | None = None

    @property
    def node(self) -> Node:
        return self.kit.node

    def campaign(
        self, *, types: tuple[service.TypeSpec, ...] = TYPES, budget: int = BUDGET
    ) -> VoucherCampaign:
        self.kit.merchant("liqun", "shop", "利群集团")
        self.kit.merchant("other-shop", "shop", "不参与的商店")
        self.till = self.kit.device("POS-LIQUN", "liqun")
        with self.node.transaction() as session:
            return service.create_campaign(
                session,
                code=CODE,
                name="青岛家电消费券",
                starts_on=dt.date(2025, 3, 10),
                ends_on=dt.date(2025, 3, 20),
                types=types,
                merchant_codes=["liqun"],
                budget=budget,
                funding_reference="青商务-2025-1",
                release_time=dt.time(10, 0),
                valid_hours=24,
                redeem_from=dt.time(9, 0),
                redeem_until=dt.time(22, 0),
                actor="admin-test",
            )

    def resident(self) -> Rider:
        return self.kit.rider()

    def claim(self, rider: Rider, type_code: str) -> Any:
        with self.node.transaction() as session:
            voucher = service.claim_voucher(session, CODE, type_code, rider.resident_id)
            return voucher

    def claim_for(self, resident_id: int, type_code: str = "2000-300") -> int:
        """Claim in a transaction of its own; answers the voucher id."""
        with self.node.transaction() as session:
            return service.claim_voucher(session, CODE, type_code, resident_id).id

    def redeem(
        self,
        client: TestClient,
        rider: Rider,
        amount: str,
        *,
        order: str,
        device: Device | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body = {"order_ref": order, "order_amount": amount, "card_no": rider.card_no, **extra}
        till = device or self.till
        assert till is not None
        return send(client, till, REDEEM, body)

    def redeemed(
        self, client: TestClient, rider: Rider, type_code: str, amount: str, order: str
    ) -> Any:
        """A voucher of ``type_code`` claimed by ``rider`` and redeemed on ``order``."""
        voucher = self.claim(rider, type_code)
        response = self.redeem(client, rider, amount, order=order, voucher_code=voucher.code)
        assert response.status_code == 200, response.text
        return voucher

    def refund(
        self,
        client: TestClient,
        voucher_code: str,
        amount: str,
        *,
        order: str,
        ref: str,
        device: Device | None = None,
    ) -> httpx.Response:
        body = {
            "voucher_code": voucher_code,
            "order_ref": order,
            "refund_ref": ref,
            "amount": amount,
        }
        till = device or self.till
        assert till is not None
        return send(client, till, REFUND, body)

    def budget(self) -> int:
        with self.node.transaction() as session:
            return int(
                ledger.balance(
                    session, ledger.get_account_by_code(session, f"voucher:{CODE}:budget").id
                )
            )

    def owed_to(self, merchant: str) -> int:
        with self.node.transaction() as session:
            return int(
                ledger.balance(
                    session, acquiring.get_merchant(session, merchant).settlement_account_id
                )
            )

    def release(self, type_code: str, day: int) -> tuple[int, int, int]:
        """(quota, returned, claimed) of a day's release of a type."""
        with self.node.transaction() as session:
            campaign = service.get_campaign(session, CODE)
            vtype = next(
                t for t in service.campaign_types(session, campaign) if t.code == type_code
            )
            release = service.release_of(session, vtype.id, dt.date(2025, 3, day))
            assert release is not None
            return release.quota, release.returned, release.claimed


@pytest.fixture
def vouchers(node: Node) -> Vouchers:
    return Vouchers(Kit(node))
