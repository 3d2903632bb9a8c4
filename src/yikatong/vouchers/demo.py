"""Demo data of consumer vouchers: seed 002's home-appliance campaign (家电消费券) — 8000−600,
5000−500 and 2000−300 yuan, released daily at 10:00, valid 24 h, 10M yuan of municipal money —
started yesterday, with the appliance retailers of the seed as merchants (one till each).

Yesterday at 10:00 card holders claimed vouchers and some used them in the afternoon; in the
evening one buyer returned the appliance (退货: the discount goes back to the campaign and the
still-valid voucher is given back). Today the unused ones are reclaimed once their 24 hours have
passed, and (after 10:00) today's release is being claimed. Everything goes through the services with the clock set to each moment. The tills'
private keys are appended to ``data_dir/demo/terminal-keys.tsv``. Loading twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random

from yikatong.acquiring import demo as acquiring_demo
from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.cards.models import CardState
from yikatong.core import clock
from yikatong.core.errors import Conflict
from yikatong.node import Node
from yikatong.vouchers import service

ACTOR = "demo-loader"
CODE = "qd-appliances"
# seed 002: 利群集团、利客来集团、苏宁易购、丽达电器、海信广场、雅泰电器、良茂凯悦
MERCHANTS = (
    ("liqun", "利群集团"),
    ("likelai", "利客来集团"),
    ("suning-qd", "苏宁易购青岛"),
    ("lida", "丽达电器"),
    ("hisense-plaza", "海信广场"),
)
# seed 002: 8000−600, 5000−500, 2000−300; daily quotas chosen so that 43 days fit 10M yuan.
TYPES = (
    service.TypeSpec(800_000, 60_000, 100),
    service.TypeSpec(500_000, 50_000, 150),
    service.TypeSpec(200_000, 30_000, 300),
)
BUDGET = 1_000_000_000  # fen: seed 002, 1000万元 municipal money
DAYS = 43  # seed 002: 9月19日—10月31日
CLAIMERS = 30
_LOCAL = dt.timezone(dt.timedelta(hours=8))


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_LOCAL).astimezone(dt.UTC)


def till_no(code: str) -> str:
    return f"POS-{code.upper()}"[:32]


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    real_now = clock.now()
    today = real_now.astimezone(_LOCAL).date()
    yesterday = today - dt.timedelta(days=1)
    fixed = clock.FixedClock(_at(yesterday, 8, 0))
    keys: dict[str, bytes] = {}
    with clock.clock_override(fixed), node.transaction() as session:
        if service.list_campaigns(session):
            return {"campaigns": len(service.list_campaigns(session))}
        for code, name in MERCHANTS:
            acquiring.register_merchant(
                session, code=code, name=name, kind=acquiring.MerchantKind.SHOP
            )
            _, private = acquiring.register_terminal(
                session, terminal_no=till_no(code), merchant_code=code
            )
            assert private is not None
            keys[till_no(code)] = private
        service.create_campaign(
            session,
            code=CODE,
            name="青岛家电消费券",
            starts_on=yesterday,
            ends_on=yesterday + dt.timedelta(days=DAYS - 1),
            types=TYPES,
            merchant_codes=[code for code, _ in MERCHANTS],
            budget=BUDGET,
            funding_reference=f"青商务〔{yesterday.year}〕家电券",
            release_time=dt.time(10, 0),
            valid_hours=24,
            redeem_from=dt.time(9, 0),
            redeem_until=dt.time(22, 0),
            actor=ACTOR,
        )
        holders = [
            (card.card_no, card.resident_id)
            for card in cards_service.list_cards(session, state=CardState.ACTIVE, limit=1000)
        ]
    path = node.settings.data_dir / "demo" / acquiring_demo.KEYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for terminal_no, private in keys.items():
            out.write(f"{terminal_no}\tEd25519\t{private.hex()}\n")
    figures = {"campaigns": 1, "merchants": len(MERCHANTS), "claimed": 0, "redeemed": 0}
    figures["reclaimed"] = figures["refunded"] = 0
    sales: list[tuple[str, str, str, int]] = []  # merchant, voucher, order, amount
    codes = [t.code for t in TYPES]
    order = 0
    with clock.clock_override(fixed):
        # Yesterday: a rush at 10:00, some vouchers used in the afternoon.
        for card_no, resident_id in holders[:CLAIMERS]:
            fixed.set(_at(yesterday, 10, rng.randint(0, 20)))
            type_code = rng.choice(codes)
            with node.transaction() as session:
                voucher = service.claim_voucher(session, CODE, type_code, resident_id)
                figures["claimed"] += 1
            if rng.random() < 0.4:
                order += 1
                vtype = next(t for t in TYPES if t.code == type_code)
                merchant = rng.choice(MERCHANTS)[0]
                fixed.set(_at(yesterday, rng.randint(13, 20), rng.randint(0, 59)))
                order_ref = f"DEMO-{yesterday:%Y%m%d}-{order:04d}"
                amount = vtype.threshold + rng.randint(0, 200_000)
                with node.transaction() as session:
                    service.redeem_voucher(
                        session,
                        acquiring.get_terminal(session, till_no(merchant)),
                        order_ref=order_ref,
                        order_amount=amount,
                        card_no=card_no,
                        voucher_code=voucher.code,
                    )
                    figures["redeemed"] += 1
                sales.append((merchant, voucher.code, order_ref, amount))
        if sales:
            # 21:30: the first buyer brings the appliance back, the whole order is refunded.
            merchant, voucher_code, order_ref, amount = sales[0]
            fixed.set(_at(yesterday, 21, 30))
            with node.transaction() as session:
                service.refund_voucher(
                    session,
                    acquiring.get_terminal(session, till_no(merchant)),
                    voucher_code=voucher_code,
                    order_ref=order_ref,
                    refund_ref=f"RET-{order_ref}",
                    amount=amount,
                )
            figures["refunded"] = 1
        # Today: the reclaim job, then (after 10:00) today's release.
        fixed.set(real_now)
        with node.transaction() as session:
            figures["reclaimed"] = service.reclaim_expired(session)
        if real_now >= _at(today, 10, 0):
            for _card_no, resident_id in holders[CLAIMERS : CLAIMERS * 2]:
                try:
                    with node.transaction() as session:
                        service.claim_voucher(session, CODE, rng.choice(codes), resident_id)
                except Conflict:
                    continue  # e.g. today's release of that type is all claimed
                figures["claimed"] += 1
    return figures
