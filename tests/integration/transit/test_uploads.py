"""Offline uploads price each ride from the day's rides and per-day totals only (not the card's
whole month). Whatever the order of the uploads and however close to midnight the rides are,
every charged fare must equal the fare the rules give with every earlier ride in hand."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from tests.integration.acquiring._kit import Kit, Rider
from yikatong.acquiring import service as acquiring
from yikatong.acquiring.models import Tap
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.transit import fares
from yikatong.transit import service as transit

_LOCAL = dt.timezone(dt.timedelta(hours=8))
LINES = ("1", "26", "321")


def test_uploads_day_by_day_charge_what_the_full_history_would(kit: Kit) -> None:
    kit.merchant("qd-bus", "bus")
    for line in LINES:
        kit.device(f"BUS-{line}", "qd-bus", line=line)
    riders = [kit.rider() for _ in range(4)]
    for rider in riders:
        kit.fund(rider, fin=1000, transport=50_000)
    rng = random.Random(11)
    now = clock.now()  # 2025-03-10 10:00 Beijing time
    first_day = (now - dt.timedelta(days=12)).astimezone(_LOCAL).date()
    seqs = dict.fromkeys(LINES, 0)
    # Twelve days of rides, many a day (the daily cap bites), a share of them after 23:00 and
    # before 01:30 (transfers across midnight); each bus uploads each day, buses in any order.
    uploads: list[tuple[str, list[acquiring.OfflineTap]]] = []
    for offset in range(12):
        day = first_day + dt.timedelta(days=offset)
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)
        by_line: dict[str, list[acquiring.OfflineTap]] = {line: [] for line in LINES}
        for _ in range(30):
            line = rng.choice(LINES)
            if rng.random() < 0.3:
                minute = rng.choice([rng.randint(0, 90), rng.randint(23 * 60, 24 * 60 - 1)])
            else:
                minute = rng.randint(6 * 60, 22 * 60)
            at = midnight + dt.timedelta(minutes=minute, seconds=rng.randint(0, 59))
            if at >= now:
                continue
            seqs[line] += 1
            by_line[line].append(acquiring.OfflineTap(seqs[line], rng.choice(riders).card_no, at))
        order = list(LINES)
        rng.shuffle(order)
        uploads.extend((line, sorted(by_line[line], key=lambda t: t.tapped_at)) for line in order)

    with kit.node.transaction() as session:
        for line, taps in uploads:
            if taps:
                transit.upload_rides(session, acquiring.get_terminal(session, f"BUS-{line}"), taps)

    # The reference: the same uploads in the same order, each ride priced with every ride
    # recorded before it (its whole month, one by one).
    expected: dict[tuple[str, int], int] = {}
    prior: dict[str, list[fares.PriorRide]] = {r.card_no: [] for r in riders}
    rules_used = {"transfer": 0, "capped": 0, "transfer after midnight": 0}
    for line, taps in uploads:
        for tap in taps:
            day = tap.tapped_at.astimezone(_LOCAL).date()
            policy = transit.policy_on(day)
            quote = fares.quote_fare(
                policy, fares.Ride("bus", line, tap.tapped_at), "ordinary", prior[tap.card_no]
            )
            expected[f"BUS-{line}", tap.terminal_seq] = quote.fare
            steps = " ".join(quote.steps)
            rules_used["transfer"] += "transfer" in steps
            rules_used["capped"] += "capped" in steps
            local = tap.tapped_at.astimezone(_LOCAL)
            rules_used["transfer after midnight"] += "transfer" in steps and local.hour < 2
            prior[tap.card_no].append(fares.PriorRide("bus", line, tap.tapped_at, quote.fare))
    with kit.node.transaction() as session:
        charged = {
            (terminal_no, seq): amount
            for terminal_no, seq, amount in session.execute(
                select(acquiring.Terminal.terminal_no, Tap.terminal_seq, Tap.amount).join(
                    acquiring.Terminal, acquiring.Terminal.id == Tap.terminal_id
                )
            )
        }
    assert charged == expected
    assert len(expected) > 300  # the comparison covered the whole workload
    # Both rules that need earlier rides were exercised, across midnight too.
    assert rules_used["transfer"] > 0 and rules_used["capped"] > 0
    assert rules_used["transfer after midnight"] > 0


def test_one_upload_with_a_card_many_times_a_repeated_tap_and_a_card_denied_between_taps(
    kit: Kit, fixed_clock: clock.FixedClock
) -> None:
    """Within one upload, sent newest first: the caps and the purse run down ride by ride, a
    repeated sequence is charged once, and the deny list is judged at each tap's time."""
    kit.merchant("qd-bus", "bus")
    kit.device("BUS-0321", "qd-bus", line="321")  # 3 yuan a ride; a day is capped at 15 yuan
    often, denied = kit.rider(), kit.rider()
    kit.fund(often, transport=1000)
    kit.fund(denied, transport=1000)
    start = clock.now()
    fixed_clock.advance(minutes=30)
    with kit.node.transaction() as session:
        cards_service.report_lost(session, denied.card_no, actor="clerk", reason="lost")
    fixed_clock.advance(minutes=30)
    with kit.node.transaction() as session:
        cards_service.restore_card(session, denied.card_no, actor="clerk", reason="found")
    fixed_clock.advance(hours=3)

    def tap(seq: int, rider: Rider, minutes: int) -> acquiring.OfflineTap:
        return acquiring.OfflineTap(seq, rider.card_no, start + dt.timedelta(minutes=minutes))

    taps = [tap(seq, often, 5 + 25 * seq) for seq in range(1, 7)]
    taps += [tap(11, denied, 10), tap(12, denied, 45), tap(13, denied, 90)]
    taps += [taps[1], tap(3, often, 65)]  # sequences sent twice: the first one sent is the tap
    with kit.node.transaction() as session:
        result = transit.upload_rides(
            session, acquiring.get_terminal(session, "BUS-0321"), taps[::-1]
        )
        outcome = {t.terminal_seq: (t.status.value, t.reason, t.amount) for t in result.taps}
    assert (result.received, result.duplicates, result.duplicate_seqs) == (11, 2, [3, 2])
    assert (result.approved, result.debts, result.rejected) == (6, 3, 0)
    assert outcome == {
        1: ("approved", "ok", 300),
        2: ("approved", "ok", 300),
        3: ("approved", "ok", 300),
        4: ("debt", "insufficient-funds", 300),  # 1 yuan left
        5: ("debt", "insufficient-funds", 300),  # owed rides count for the daily cap …
        6: ("approved", "ok", 0),  # … which it now reaches
        11: ("approved", "ok", 300),
        12: ("debt", "denied-at-tap", 300),  # on the deny list between 10:30 and 11:00
        13: ("approved", "ok", 300),
    }
    assert (kit.transport(often), kit.transport(denied)) == (100, 400)
    with kit.node.transaction() as session:
        debts = [(d.terminal_seq, d.amount) for d in acquiring.card_debts(session, often.card_no)]
        assert debts == [(4, 300), (5, 300)]
        merchant = acquiring.get_merchant(session, "qd-bus")
        assert ledger.balance(session, merchant.acquired_account_id) == 3 * 300 + 2 * 300
        assert ledger.trial_balance(session).balanced
