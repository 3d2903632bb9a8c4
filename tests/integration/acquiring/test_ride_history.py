"""The one-card ride history of online authorisation answers what the bulk history answers."""

from __future__ import annotations

import datetime as dt
import random

from tests.integration.acquiring._kit import Kit
from yikatong.acquiring import service as acquiring
from yikatong.core import clock
from yikatong.transit import service as transit

_LOCAL = dt.timezone(dt.timedelta(hours=8))


def test_one_card_history_equals_the_bulk_history_of_the_same_card(kit: Kit) -> None:
    kit.merchant("qd-bus", "bus")
    kit.merchant("qd-metro", "metro")
    kit.merchant("qd-shop", "shop")
    kit.device("BUS-0005", "qd-bus", line="5")
    kit.device("BUS-0011", "qd-bus", line="11")
    kit.device("SHOP-0001", "qd-shop")
    riders = [kit.rider() for _ in range(4)]
    for rider in riders[:3]:
        kit.fund(rider, fin=2000, transport=1500)  # the last one rides into debt
    rng = random.Random(7)
    now = clock.now()
    seqs = {"BUS-0005": 0, "BUS-0011": 0}
    uploads: dict[str, list[acquiring.OfflineTap]] = {"BUS-0005": [], "BUS-0011": []}
    # Rides over the last four weeks (two months: February and March), some around midnight.
    for _ in range(60):
        terminal_no = rng.choice(sorted(uploads))
        seqs[terminal_no] += 1
        at = now - dt.timedelta(days=rng.randint(0, 27), minutes=rng.randint(0, 24 * 60))
        uploads[terminal_no].append(
            acquiring.OfflineTap(seqs[terminal_no], rng.choice(riders).card_no, at)
        )
    with kit.node.transaction() as session:
        for terminal_no, taps in uploads.items():
            terminal = acquiring.get_terminal(session, terminal_no)
            transit.upload_rides(session, terminal, sorted(taps, key=lambda t: t.tapped_at))
        shop = acquiring.get_terminal(session, "SHOP-0001")
        for seq, rider in enumerate(riders, start=1):  # not a ride: never in the history

            def fixed(*_: object) -> acquiring.Priced:
                return acquiring.Priced(150)

            acquiring.authorise(session, shop, terminal_seq=seq, card_no=rider.card_no, price=fixed)

    today = now.astimezone(_LOCAL).date()
    compared = {"rides": 0, "day_totals": 0}
    with kit.node.transaction() as session:
        for back in (0, 1, 5, 9, 10, 11, 27):
            day = today - dt.timedelta(days=back)
            for days in ({day}, {day, day - dt.timedelta(days=1)}):
                cards = [rider.card_no for rider in riders]
                bulk = acquiring.ride_history_of_cards(session, cards, days=days)
                for card_no in cards:
                    one = acquiring.ride_history_of_card(session, card_no, days=days)
                    assert one == bulk[card_no], (card_no, sorted(days))
                    compared["rides"] += len(one.rides)
                    compared["day_totals"] += len(one.day_totals)
        # The comparisons were not between empty histories.
        assert compared["rides"] > 0 and compared["day_totals"] > 0
        assert acquiring.ride_history_of_card(session, riders[0].card_no, days=()) == (
            acquiring.CardRides([], {})
        )
