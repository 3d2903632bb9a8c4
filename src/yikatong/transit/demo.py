"""Demo data of transit: transport purses topped up, a few days of bus and metro rides (online
taps and offline batches uploaded by buses at the end of the day, one re-sent), and the daily
clearing of each past day, so that clearing files exist.

Who rides: the holders of the first active cards, among whom the demo's e-SSC account holders
are (``demo.load`` gives accounts to the first active residents). Each ride goes through the
same services as production; the days are replayed with the clock set to each of them, as the
terminals would have sent them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import defaultdict

from yikatong.acquiring import demo as acquiring_demo
from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.cards.models import CardState
from yikatong.core import clock
from yikatong.essc import service as essc_service
from yikatong.node import Node
from yikatong.transit import service
from yikatong.transit.bank import SandboxBank

RIDERS = 60  # card holders who ride in the demo, plus every e-SSC account holder among
CANDIDATES = 400  # the first active cards
DAYS = 3  # past days of rides, then the morning of today
TOP_UP = 10_000  # fen put into each transport purse (100 yuan)
SALARY = 300_000  # fen paid into each financial account first (3000 yuan)
_LOCAL = dt.timezone(dt.timedelta(hours=8))


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_LOCAL).astimezone(dt.UTC)


def seed_demo(node: Node, rng: random.Random) -> dict[str, int]:
    policy = acquiring_demo.demo_policy(node)
    if policy is None:
        return {}
    with node.transaction() as session:
        acquiring_demo.ensure_operators(session, policy)
        active = cards_service.list_cards(session, state=CardState.ACTIVE, limit=CANDIDATES)
        riders = [card.card_no for card in active[:RIDERS]] + [
            card.card_no
            for card in active[RIDERS:]
            if essc_service.account_of(session, card.resident_id) is not None
        ]
    terminals = acquiring_demo.demo_terminals(policy)
    if not riders or not terminals:
        return {}
    buses = [t for t in terminals if t.merchant == acquiring_demo.BUS[0]]
    gates = [t for t in terminals if t.merchant == acquiring_demo.METRO[0]]
    stations = {line: list(names) for line, names in policy.metro.lines.items()}
    # Buses on half of the lines ride offline and upload their taps in the evening.
    offline_lines = set(rng.sample(sorted(b.line for b in buses), k=len(buses) // 2))
    real_now = clock.now()
    today = real_now.astimezone(_LOCAL).date()
    first_day = today - dt.timedelta(days=DAYS)
    figures = {"top_ups": 0, "online_rides": 0, "offline_rides": 0, "offline_batches": 0}
    figures.update(duplicates_recognised=0, clearing_runs=0)
    seqs: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
    fixed = clock.FixedClock(_at(first_day - dt.timedelta(days=1), 9, 0))
    with clock.clock_override(fixed):
        bank = SandboxBank()
        with node.transaction() as session:
            for card_no in riders:
                bank.deposit(session, card_no=card_no, amount=SALARY, reference=f"demo-{card_no}")
                service.top_up(
                    session, card_no=card_no, amount=TOP_UP, idempotency_key=f"demo-tu-{card_no}"
                )
                figures["top_ups"] += 1
        for offset in range(DAYS + 1):
            day = first_day + dt.timedelta(days=offset)
            last_hour = 20 if day < today else min(real_now.astimezone(_LOCAL).hour, 20)
            offline: dict[str, list[acquiring.OfflineTap]] = defaultdict(list)
            rides: list[tuple[dt.datetime, str, acquiring_demo.DemoTerminal, str | None]] = []
            for card_no in riders:
                if rng.random() < 0.3:
                    continue  # stayed at home
                for _ in range(rng.randint(1, 3)):
                    hour = rng.randint(7, max(7, last_hour))
                    at = _at(day, hour, rng.randint(0, 59))
                    if at > real_now:
                        continue
                    if not gates or (buses and rng.random() < 0.55):
                        rides.append((at, card_no, rng.choice(buses), None))
                    else:
                        gate = rng.choice(gates)
                        others = [s for s in stations[gate.line] if s != gate.station]
                        rides.append((at, card_no, gate, rng.choice(others)))
            rides.sort(key=lambda r: r[0])
            for at, card_no, where, entry in rides:
                if where.station is None and where.line in offline_lines and day < today:
                    offline[where.terminal_no].append(
                        acquiring.OfflineTap(next(seqs[where.terminal_no]), card_no, at)
                    )
                    continue
                fixed.set(at)
                with node.transaction() as session:
                    terminal = acquiring.get_terminal(session, where.terminal_no)
                    service.authorise_ride(
                        session,
                        terminal,
                        terminal_seq=next(seqs[where.terminal_no]),
                        card_no=card_no,
                        entry=entry,
                        exit=where.station,
                    )
                figures["online_rides"] += 1
            if day < today:
                fixed.set(_at(day, 22, 30))
                for terminal_no, taps in offline.items():
                    with node.transaction() as session:
                        terminal = acquiring.get_terminal(session, terminal_no)
                        service.upload_rides(session, terminal, taps, return_taps=False)
                        # The bus re-sends its last taps after a dropped connection: recognised.
                        again = service.upload_rides(
                            session, terminal, taps[-3:], return_taps=False
                        )
                    figures["offline_batches"] += 1
                    figures["offline_rides"] += len(taps)
                    figures["duplicates_recognised"] += again.duplicates
                fixed.set(_at(day + dt.timedelta(days=1), 2, 0))
                with node.transaction() as session:
                    figures["clearing_runs"] += len(acquiring.run_clearing(session, day))
    return figures
