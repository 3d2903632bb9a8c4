"""The one-card ride history of online authorisation answers what the bulk history answers."""

from __future__ import annotations

import datetime as dt
import random

from tests.integration.acquiring._kit import Kit
from yikatong.acquiring import service as acquiring
from yikatong.core import clock
from yikatong.transit import fares
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


def test_totals_by_stretch_between_asked_days_price_like_every_ride_read(kit: Kit) -> None:
    """An upload may span days far apart, in two months: the other days come summed per stretch
    between two asked days, and every cap must come out as with each earlier ride in hand."""
    kit.merchant("qd-bus", "bus")
    kit.device("BUS-0321", "qd-bus", line="321")
    riders = [kit.rider() for _ in range(3)]
    for rider in riders:
        kit.fund(rider, transport=50_000)
    rng = random.Random(3)
    now = clock.now()  # 2025-03-10 10:00 Beijing time
    taps = [
        acquiring.OfflineTap(
            seq,
            rng.choice(riders).card_no,
            now - dt.timedelta(days=rng.randint(0, 27), minutes=rng.randint(0, 24 * 60)),
        )
        for seq in range(1, 301)
    ]
    with kit.node.transaction() as session:
        terminal = acquiring.get_terminal(session, "BUS-0321")
        transit.upload_rides(session, terminal, sorted(taps, key=lambda t: t.tapped_at))

    today = now.astimezone(_LOCAL).date()
    policy = transit.policy_on(today)
    compared = months = 0
    with kit.node.transaction() as session:
        for backs in ((0,), (1, 9), (3, 12, 20), (0, 2, 10, 11, 25), (5, 9, 13)):
            # Each with the day before, as pricing asks (the ride before a ride after midnight).
            priced = {today - dt.timedelta(days=back) for back in backs}
            days = priced | {day - dt.timedelta(days=1) for day in priced}
            cards = [rider.card_no for rider in riders]
            read = acquiring.ride_history_of_cards(session, cards, days=days)
            since = dt.datetime.combine(min(days).replace(day=1), dt.time(), tzinfo=_LOCAL)
            for card_no in cards:
                known = read[card_no]
                history = fares.RideHistory(
                    [fares.PriorRide(r.mode, r.line, r.at, r.amount) for r in known.rides],
                    detailed_days=days,
                    day_totals=known.day_totals,
                    in_time_order=True,
                )
                every = fares.RideHistory(
                    fares.PriorRide("bus", "321", tap.tapped_at, tap.amount)
                    for tap in acquiring.rides_of_card(session, card_no, since=since, until=now)
                )
                for day in priced:
                    for hour in (0, 9, 23):
                        at = dt.datetime.combine(day, dt.time(hour, 30), tzinfo=_LOCAL)
                        # The spending so far; the ride before only matters the day before.
                        assert history.up_to(at)[1:] == every.up_to(at)[1:], (card_no, at)
                        ride = fares.Ride("bus", "1", at)
                        assert fares.quote_fare(policy, ride, "ordinary", history) == (
                            fares.quote_fare(policy, ride, "ordinary", every)
                        )
                        compared += 1
                        months += every.up_to(at)[2] > every.up_to(at)[1]
                # One row per stretch, not per day ridden.
                assert len(known.day_totals) <= len(days)
    assert compared > 100 and months > 50  # earlier days of the month were counted
