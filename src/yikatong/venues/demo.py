"""Demo data of venues: Qingdao venues of the five categories with their operators, tickets,
time-slotted exhibitions and annual passes, gates, and a few days of purchases and entries
(admitted, duplicate scans, a pass lent to a friend and refused).

Prices are the demo's own figures, not published tariffs. The gates' private keys are appended to
``data_dir/demo/terminal-keys.tsv`` like the other demo terminals. The days are replayed with the
clock set to each of them, through the same services as production.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import random
from collections import defaultdict

from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.cards.models import CardState
from yikatong.core import clock
from yikatong.core.errors import Conflict, NotFound, PolicyError
from yikatong.ledger import service as ledger
from yikatong.node import Node
from yikatong.transit.bank import SandboxBank
from yikatong.venues import service
from yikatong.venues.models import EntryOutcome

OPERATORS = (
    ("qd-culture", "青岛市文化和旅游局直属场馆"),
    ("qd-tourism", "青岛文旅集团"),
    ("qd-sports", "青岛市体育中心"),
)
# (code, name, category, operator, district)
VENUES = (
    ("qd-museum", "青岛市博物馆", "museum", "qd-culture", "370212"),
    ("tsingtao-beer-museum", "青岛啤酒博物馆", "museum", "qd-tourism", "370203"),
    ("zhongshan-park", "中山公园", "park", "qd-tourism", "370202"),
    ("little-qingdao", "小青岛公园", "park", "qd-tourism", "370202"),
    ("guoxin-natatorium", "国信体育中心游泳馆", "sports", "qd-sports", "370212"),
    ("qd-library", "青岛市图书馆", "library", "qd-culture", "370212"),
    ("laoshan", "崂山风景区", "scenic_spot", "qd-tourism", "370212"),
    ("badaguan", "八大关景区", "scenic_spot", "qd-tourism", "370202"),
)
# (venue, code, name, kind, price fen, needs slot, validity days, entry limit)
PRODUCTS = (
    ("qd-museum", "qd-museum-exhibition", "特展预约票", "ticket", 3000, True, None, None),
    ("tsingtao-beer-museum", "beer-museum-ticket", "门票", "ticket", 6000, False, None, None),
    ("zhongshan-park", "zhongshan-park-ticket", "门票", "ticket", 500, False, None, None),
    ("zhongshan-park", "zhongshan-park-pass", "公园年卡", "annual_pass", 10000, False, 365, 300),
    ("little-qingdao", "little-qingdao-ticket", "门票", "ticket", 1000, False, None, None),
    ("guoxin-natatorium", "natatorium-session", "游泳场次票", "ticket", 4000, True, None, None),
    ("guoxin-natatorium", "natatorium-pass", "游泳年卡", "annual_pass", 120000, False, 365, 100),
    ("qd-library", "qd-library-reader", "读者年卡", "annual_pass", 0, False, 365, 1000),
    ("laoshan", "laoshan-ticket", "巨峰游览区门票", "ticket", 9000, False, None, None),
    ("laoshan", "laoshan-pass", "崂山年卡", "annual_pass", 20000, False, 365, 50),
    ("badaguan", "badaguan-ticket", "门票", "ticket", 0, False, None, None),
)
SLOTTED = {"qd-museum": 200, "guoxin-natatorium": 80}  # venue: places per slot
VISITORS = 40  # holders of the first active cards
DAYS = 3
WALLET = 100_000  # fen paid into each visitor's financial account (1000 yuan)
KEYS_FILE = "terminal-keys.tsv"
_LOCAL = dt.timezone(dt.timedelta(hours=8))


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_LOCAL).astimezone(dt.UTC)


def gate_no(venue: str) -> str:
    return f"GATE-{venue.upper()}-01"[:32]


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    real_now = clock.now()
    today = real_now.astimezone(_LOCAL).date()
    first_day = today - dt.timedelta(days=DAYS)
    try:
        service.policy_on(first_day)
        service.policy_on(today)
    except PolicyError:
        return {}  # no venue policy for this city and these days
    fixed = clock.FixedClock(_at(first_day, 8, 0))
    figures: dict[str, int] = defaultdict(int)
    with clock.clock_override(fixed):
        keys = _catalogue(node)
        with node.transaction() as session:
            visitors = [
                (card.resident_id, card.card_no)
                for card in cards_service.list_cards(
                    session, state=CardState.ACTIVE, limit=VISITORS
                )
            ]
            bank = SandboxBank()
            for _, card_no in visitors:
                fin = acquiring.card_account(session, card_no, "fin")
                if ledger.balance(session, fin) < WALLET:
                    bank.deposit(
                        session, card_no=card_no, amount=WALLET, reference=f"venues-{card_no}"
                    )
        seqs: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        tickets = [p for p in PRODUCTS if p[3] == "ticket"]
        passes = [p for p in PRODUCTS if p[3] == "annual_pass"]
        holders: dict[str, list[tuple[int, str]]] = defaultdict(list)  # venue: pass holders
        # Some visitors hold an annual pass from the first day on.
        with node.transaction() as session:
            for resident_id, card_no in visitors:
                if rng.random() < 0.3:
                    chosen = rng.choice(passes)
                    try:
                        service.buy_pass(
                            session, resident_id, chosen[1], idempotency_key=f"demo-{chosen[1]}"
                        )
                    except (Conflict, ledger.InsufficientFunds):
                        continue
                    holders[chosen[0]].append((resident_id, card_no))
                    figures["passes"] += 1
        for offset in range(DAYS + 1):
            day = first_day + dt.timedelta(days=offset)
            last_hour = 18 if day < today else min(real_now.astimezone(_LOCAL).hour, 18)
            if last_hour < 9:
                continue
            fixed.set(_at(day, 8, 0))
            with node.transaction() as session:
                for venue, capacity in SLOTTED.items():
                    with contextlib.suppress(Conflict):  # opened by an earlier load
                        service.open_slots(
                            session,
                            venue,
                            day=day,
                            first_start=dt.time(9, 0),
                            minutes=60,
                            count=9,
                            capacity=capacity,
                        )
            visits: list[tuple[dt.datetime, int, str, str, str | None]] = []
            for resident_id, card_no in visitors:
                if rng.random() < 0.35:
                    venue, code, *_ = rng.choice(tickets)
                    hour = rng.randint(9, last_hour)
                    visits.append(
                        (_at(day, hour, rng.randint(0, 50)), resident_id, card_no, venue, code)
                    )
            for venue, people in holders.items():
                for resident_id, card_no in people:
                    if rng.random() < 0.5:
                        hour = rng.randint(9, last_hour)
                        visits.append(
                            (_at(day, hour, rng.randint(0, 50)), resident_id, card_no, venue, None)
                        )
            visits.sort(key=lambda v: v[0])
            for at, resident_id, card_no, venue, product in visits:
                if at > real_now:
                    continue
                fixed.set(at - dt.timedelta(minutes=20))
                with node.transaction() as session:
                    if product is not None and not _buy(
                        session, resident_id, venue, product, at, figures
                    ):
                        continue
                fixed.set(at)
                outcome = _scan(node, venue, card_no, seqs)
                figures[f"entries_{outcome}"] += 1
                if rng.random() < 0.1:
                    fixed.set(at + dt.timedelta(seconds=15))  # the gate did not open: scanned again
                    figures[f"entries_{_scan(node, venue, card_no, seqs)}"] += 1
            # Once a day a pass holder lends the pass to a friend: the gate refuses the friend.
            lent = next((venue for venue, people in holders.items() if people), None)
            friend = rng.choice(visitors)
            if lent is not None and day < today and friend not in holders[lent]:
                fixed.set(_at(day, 17, 30))
                figures[f"entries_{_scan(node, lent, friend[1], seqs)}"] += 1
    figures["venues"], figures["products"], figures["gates"] = len(VENUES), len(PRODUCTS), len(keys)
    return dict(figures)


def _catalogue(node: Node) -> dict[str, bytes]:
    """Operators, venues, products and one gate per venue; the new gates' private keys."""
    keys: dict[str, bytes] = {}
    with node.transaction() as session:
        for code, name in OPERATORS:
            try:
                acquiring.get_merchant(session, code)
            except NotFound:
                acquiring.register_merchant(
                    session, code=code, name=name, kind=acquiring.MerchantKind.VENUE
                )
        for code, name, category, operator, district in VENUES:
            try:
                service.get_venue(session, code)
                continue
            except NotFound:
                service.add_venue(
                    session,
                    code=code,
                    name=name,
                    category=category,
                    operator=operator,
                    district_code=district,
                )
            _, private = service.register_gate(session, code, gate_no(code))
            assert private is not None
            keys[gate_no(code)] = private
        for venue, code, name, kind, price, slot, days, limit in PRODUCTS:
            try:
                service.get_product(session, code)
            except NotFound:
                service.add_product(
                    session,
                    venue_code=venue,
                    code=code,
                    kind=kind,
                    name=name,
                    price=price,
                    needs_slot=slot,
                    validity_days=days,
                    entry_limit=limit,
                )
    if keys:
        path = node.settings.data_dir / "demo" / KEYS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            for terminal_no, private in keys.items():
                out.write(f"{terminal_no}\tEd25519\t{private.hex()}\n")
    return keys


def _buy(
    session: Session,
    resident_id: int,
    venue: str,
    product: str,
    at: dt.datetime,
    figures: dict[str, int],
) -> bool:
    slot_id: int | None = None
    if venue in SLOTTED:
        day = at.astimezone(_LOCAL).date()
        slot_id = next(
            (s.id for s in service.slots_of(session, venue, day) if s.starts_at <= at < s.ends_at),
            None,
        )
        if slot_id is None:
            return False
    try:
        service.buy_ticket(
            session,
            resident_id,
            product,
            idempotency_key=f"demo-{product}-{at:%Y%m%d%H%M}",
            slot_id=slot_id,
        )
    except (Conflict, ledger.InsufficientFunds):
        return False
    figures["tickets"] += 1
    return True


def _scan(node: Node, venue: str, card_no: str, seqs: dict[str, itertools.count[int]]) -> str:
    with node.transaction() as session:
        terminal = acquiring.get_terminal(session, gate_no(venue))
        entry = service.check_entry(session, terminal, scan_seq=next(seqs[venue]), card_no=card_no)
        outcome: EntryOutcome = entry.outcome
    return outcome.value
