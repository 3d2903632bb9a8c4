"""Fare adjustments (补退): when a rider's earlier ride is uploaded after a later one, the later
ride is priced again with the earlier one in hand and refunded what it was overcharged.

Buses upload when they reach the depot, not in the order their riders rode. The fares used
here (packaged Qingdao policy): line 26 costs 200 fen, line 321 300 fen, a transfer within 60
minutes to another line takes 100 fen off, a day is capped at 1500 fen.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders, Ykt
from tests.integration.acquiring._kit import Device, Kit, Rider, send
from yikatong.acquiring import service as acquiring
from yikatong.acquiring.models import CardRideDay, FareAdjustment, Tap, TapStatus
from yikatong.api.auth import issue_token
from yikatong.core import clock
from yikatong.ledger import service as ledger
from yikatong.transit import fares
from yikatong.transit import service as transit
from yikatong.web.session import COOKIE

_LOCAL = dt.timezone(dt.timedelta(hours=8))
OFFLINE = "/api/v1/terminal/rides/offline"
DAY = "2025-03-10"


def _at(hour: int, minute: int, day: int = 10) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=_LOCAL)


def _buses(kit: Kit) -> tuple[Device, Device]:
    kit.merchant("qd-bus", "bus")
    return kit.device("BUS-26", "qd-bus", line="26"), kit.device("BUS-321", "qd-bus", line="321")


def _upload(kit: Kit, terminal_no: str, *taps: acquiring.OfflineTap) -> acquiring.UploadResult:
    with kit.node.transaction() as session:
        return transit.upload_rides(session, acquiring.get_terminal(session, terminal_no), taps)


def _tap(kit: Kit, tap_id: int) -> Tap:
    with kit.node.transaction() as session:
        tap = acquiring.get_tap(session, tap_id)
        session.expunge(tap)
        return tap


def _late_transfer(kit: Kit, rider: Rider) -> tuple[int, int]:
    """08:30 on line 321 uploaded first (300, no earlier ride known), then 08:00 on line 26
    (200): the 08:30 ride was a transfer and owes 200. Answers (later tap, earlier tap)."""
    later = _upload(kit, "BUS-321", acquiring.OfflineTap(1, rider.card_no, _at(8, 30)))
    assert (later.taps[0].amount, later.fare_adjustments) == (300, 0)
    earlier = _upload(kit, "BUS-26", acquiring.OfflineTap(1, rider.card_no, _at(8, 0)))
    assert earlier.taps[0].amount == 200
    assert earlier.fare_adjustments == 1
    return later.taps[0].id, earlier.taps[0].id


def test_a_later_ride_uploaded_first_is_refunded_its_transfer_discount(kit: Kit) -> None:
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    later, earlier = _late_transfer(kit, rider)

    tap = _tap(kit, later)
    assert (tap.amount, tap.refunded) == (300, 100)  # charged 300, 100 given back
    assert kit.transport(rider) == 5000 - 200 - 200
    with kit.node.transaction() as session:
        [adjustment] = acquiring.fare_adjustments(session, tap_ids=[later])
        assert (adjustment.fare_before, adjustment.fare_after, adjustment.amount) == (300, 200, 100)
        assert adjustment.cause_tap_id == earlier
        assert any("transfer" in step for step in adjustment.steps)
        refund = ledger.get_transfer(session, adjustment.transfer_id or 0)
        merchant = acquiring.get_merchant(session, "qd-bus")
        purse = acquiring.card_account(session, rider.card_no, "transport")
        assert (refund.debit_account_id, refund.credit_account_id, refund.amount) == (
            merchant.acquired_account_id,
            purse,
            100,
        )
        # The merchant holds what the rides cost now, and the books balance.
        assert ledger.balance(session, merchant.acquired_account_id) == 400
        assert ledger.trial_balance(session).balanced
        # The next ride of the day is priced from the adjusted fares (the cap counts 400).
        assert (
            transit.quote(session, mode="bus", line="26", at=_at(9, 50), card_no=rider.card_no).fare
            == 200
        )


def test_uploads_sent_again_adjust_nothing_twice(kit: Kit) -> None:
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    later, _ = _late_transfer(kit, rider)
    again = _upload(kit, "BUS-26", acquiring.OfflineTap(1, rider.card_no, _at(8, 0)))
    assert (again.duplicates, again.fare_adjustments) == (1, 0)
    again = _upload(kit, "BUS-321", acquiring.OfflineTap(1, rider.card_no, _at(8, 30)))
    assert (again.duplicates, again.fare_adjustments) == (1, 0)
    assert _tap(kit, later).refunded == 100
    assert kit.transport(rider) == 5000 - 400
    with kit.node.transaction() as session:
        assert session.scalar(select(func.count()).select_from(FareAdjustment)) == 1


def test_a_ride_made_dearer_by_a_late_earlier_ride_is_not_charged_more(kit: Kit) -> None:
    """08:00 on 26, then 08:40 on 321 (a transfer: 200). The 08:20 ride on 321 arrives late: in
    time order 08:40 follows a ride on its own line and would cost 300, but nobody is charged
    more after the fact."""
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    _upload(kit, "BUS-26", acquiring.OfflineTap(1, rider.card_no, _at(8, 0)))
    first = _upload(kit, "BUS-321", acquiring.OfflineTap(2, rider.card_no, _at(8, 40)))
    assert first.taps[0].amount == 200
    late = _upload(kit, "BUS-321", acquiring.OfflineTap(1, rider.card_no, _at(8, 20)))
    assert (late.taps[0].amount, late.fare_adjustments) == (200, 0)
    assert _tap(kit, first.taps[0].id).refunded == 0
    assert kit.transport(rider) == 5000 - 600


def test_the_cap_reached_sooner_refunds_the_rides_after_it(kit: Kit) -> None:
    """Five rides on 321 uploaded first (1500 = the daily cap), then an earlier ride of 300:
    the last ride of the day now falls above the cap and costs nothing."""
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=10_000)
    taps = [acquiring.OfflineTap(n, rider.card_no, _at(7 + 2 * n, 0, day=9)) for n in range(1, 6)]
    uploaded = _upload(kit, "BUS-321", *taps)
    assert [t.amount for t in uploaded.taps] == [300] * 5
    late = _upload(kit, "BUS-26", acquiring.OfflineTap(1, rider.card_no, _at(6, 0, day=9)))
    assert late.taps[0].amount == 200
    assert late.fare_adjustments == 1
    fares_now = [_tap(kit, t.id) for t in uploaded.taps]
    assert [t.amount - t.refunded for t in fares_now] == [300, 300, 300, 300, 100]
    assert kit.transport(rider) == 10_000 - 1500


def test_a_debt_owes_less_and_the_purse_pays_what_is_owed_now(kit: Kit) -> None:
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, fin=10_000)  # nothing in the transport purse: both rides become debts
    later = _upload(kit, "BUS-321", acquiring.OfflineTap(1, rider.card_no, _at(8, 30)))
    assert (later.taps[0].status, later.taps[0].amount) == (TapStatus.DEBT, 300)
    late = _upload(kit, "BUS-26", acquiring.OfflineTap(1, rider.card_no, _at(8, 0)))
    assert late.fare_adjustments == 1
    debt = _tap(kit, later.taps[0].id)
    assert (debt.status, debt.amount, debt.refunded) == (TapStatus.DEBT, 200, 0)
    with kit.node.transaction() as session:
        [adjustment] = acquiring.fare_adjustments(session, tap_ids=[debt.id])
        assert (adjustment.amount, adjustment.transfer_id) == (100, None)
        assert acquiring.ride_days_disagreeing(session) == []
    kit.fund(rider, transport=1000)  # the top-up collects both debts: 200 + 200
    assert kit.transport(rider) == 1000 - 400
    assert _tap(kit, debt.id).status is TapStatus.APPROVED


def test_a_reversal_after_an_adjustment_gives_back_what_is_left(kit: Kit) -> None:
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    later, _ = _late_transfer(kit, rider)
    with kit.node.transaction() as session:
        acquiring.reverse_tap(session, later, reason="driver keyed the wrong line")
    assert kit.transport(rider) == 5000 - 200
    with kit.node.transaction() as session:
        runs = acquiring.run_clearing(session, dt.date(2025, 3, 10))
        [run] = runs
        # Sales 300 + 200, the adjustment 100 and the reversal of the 200 left: 200 settled.
        assert (run.gross, run.adjusted_amount, run.reversed_amount, run.net) == (
            500,
            100,
            200,
            200,
        )
        merchant = acquiring.get_merchant(session, "qd-bus")
        assert ledger.balance(session, merchant.acquired_account_id) == 0
        assert all(row.balanced for row in acquiring.reconcile(session, dt.date(2025, 3, 10)))
        # The reversed ride costs nothing now; the other one its 200 (what the rider paid).
        assert acquiring.ride_days_disagreeing(session) == []
        day = session.get(CardRideDay, (rider.card_no, dt.date(2025, 3, 10)))
        assert day is not None and day.fare == 200


def test_an_adjustment_after_clearing_nets_in_the_next_run_and_the_file(
    kit: Kit, client: TestClient, auth: AuthHeaders, fixed_clock: clock.FixedClock
) -> None:
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    later = _upload(kit, "BUS-321", acquiring.OfflineTap(1, rider.card_no, _at(8, 30, day=9)))
    assert (
        client.post("/api/v1/acquiring/clearing/2025-03-09", headers=auth("admin")).json()[0]["net"]
        == 300
    )
    earlier = _upload(kit, "BUS-26", acquiring.OfflineTap(1, rider.card_no, _at(8, 0, day=9)))
    assert earlier.fare_adjustments == 1
    # The refund left the acquired account after the 9th was settled: it is owed by the next run.
    recon = client.get(f"/api/v1/acquiring/reconciliation/{DAY}", headers=auth("auditor"))
    assert recon.status_code == 200, recon.text
    with kit.node.transaction() as session:
        assert all(row.balanced for row in acquiring.reconcile(session, dt.date(2025, 3, 10)))
    [run] = client.post(f"/api/v1/acquiring/clearing/{DAY}", headers=auth("admin")).json()
    assert (run["taps"], run["gross"], run["adjustments"], run["adjusted_amount"]) == (
        1,
        200,
        1,
        100,
    )
    assert run["net"] == 100
    text = client.get(f"/api/v1/acquiring/clearing/{DAY}/file", headers=auth("auditor")).text
    lines = list(csv.DictReader(io.StringIO(text)))
    [adjusted] = [line for line in lines if line["entry"] == "fare-adjustment"]
    assert (adjusted["tap_id"], adjusted["amount_fen"]) == (str(later.taps[0].id), "-100")
    assert (
        text == client.get(f"/api/v1/acquiring/clearing/{DAY}/file", headers=auth("auditor")).text
    )
    with kit.node.transaction() as session:
        merchant = acquiring.get_merchant(session, "qd-bus")
        assert ledger.balance(session, merchant.acquired_account_id) == 0
        assert ledger.balance(session, merchant.settlement_account_id) == 400


def test_terminal_staff_and_rider_see_the_adjustment_over_http(
    kit: Kit, client: TestClient, auth: AuthHeaders
) -> None:
    bus_26, bus_321 = _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    ride = {"card_no": rider.card_no}
    first = send(
        client,
        bus_321,
        OFFLINE,
        {"taps": [{**ride, "terminal_seq": 1, "tapped_at": _at(8, 30).isoformat()}]},
    )
    assert first.status_code == 200, first.text
    later_id = first.json()["taps"][0]["tap_id"]
    late = send(
        client,
        bus_26,
        OFFLINE,
        {"taps": [{**ride, "terminal_seq": 1, "tapped_at": _at(8, 0).isoformat()}]},
    )
    assert late.status_code == 200, late.text
    assert late.json()["fare_adjustments"] == 1

    seen = client.get(f"/api/v1/acquiring/taps/{later_id}", headers=auth("auditor")).json()
    assert (seen["amount"], seen["refunded"]) == (300, 100)
    listed = client.get(
        f"/api/v1/acquiring/taps/{later_id}/fare-adjustments", headers=auth("auditor")
    )
    assert listed.status_code == 200, listed.text
    [adjustment] = listed.json()
    assert (adjustment["fare_before"], adjustment["fare_after"], adjustment["refunded"]) == (
        300,
        200,
        100,
    )
    assert adjustment["cause_tap_id"] == late.json()["taps"][0]["tap_id"]
    missing = client.get("/api/v1/acquiring/taps/999999/fare-adjustments", headers=auth("auditor"))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    rides = client.get(
        "/api/v1/transit/rides", headers=auth("resident", resident_id=rider.resident_id)
    ).json()
    by_id = {r["tap_id"]: r for r in rides}
    assert (by_id[later_id]["fare"], by_id[later_id]["refunded"]) == (200, 100)
    token = issue_token(kit.node, "rider", ["resident"], resident_id=rider.resident_id)
    client.cookies.set(COOKIE, token)
    page = client.get("/me/rides")
    assert page.status_code == 200 and "已退 1.00（补退）" in page.text
    english = client.get("/me/rides", headers={"Accept-Language": "en"}).text
    assert "1.00 refunded (fare adjustment)" in english


def test_buses_uploading_in_any_order_leave_no_ride_dearer_than_in_time_order(kit: Kit) -> None:
    """A fortnight of rides on three lines by a few riders, each bus uploading each day in a
    random order (and now and then a day late). Afterwards every ride costs at most what it was
    first charged and at most what the fare rules give it in time order from the fares the
    earlier rides cost now; the refunds are the adjustments, and the books balance."""
    kit.merchant("qd-bus", "bus")
    lines = ("1", "26", "321")
    for line in lines:
        kit.device(f"BUS-{line}", "qd-bus", line=line)
    riders = [kit.rider() for _ in range(4)]
    for rider in riders:
        kit.fund(rider, transport=50_000)
    rng = random.Random(5)
    now = clock.now()
    first_day = (now - dt.timedelta(days=14)).astimezone(_LOCAL).date()
    seqs = dict.fromkeys(lines, 0)
    uploads: list[tuple[str, list[acquiring.OfflineTap]]] = []
    held: list[tuple[str, list[acquiring.OfflineTap]]] = []
    for offset in range(14):
        day = first_day + dt.timedelta(days=offset)
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)
        by_line: dict[str, list[acquiring.OfflineTap]] = {line: [] for line in lines}
        for _ in range(24):
            line = rng.choice(lines)
            at = midnight + dt.timedelta(minutes=rng.randint(6 * 60, 22 * 60))
            if at >= now:
                continue
            seqs[line] += 1
            by_line[line].append(acquiring.OfflineTap(seqs[line], rng.choice(riders).card_no, at))
        order = list(lines)
        rng.shuffle(order)
        today = [(line, by_line[line]) for line in order if by_line[line]]
        uploads.extend(held)
        held = []
        for item in today:
            (held if rng.random() < 0.2 else uploads).append(item)  # a bus a day late
    uploads.extend(held)

    first_charge: dict[int, int] = {}
    adjustments = 0
    for line, taps in uploads:
        result = _upload(kit, f"BUS-{line}", *taps)
        adjustments += result.fare_adjustments
        first_charge.update({t.id: t.amount for t in result.taps})
    assert adjustments > 10  # out-of-order uploads were common and corrected

    with kit.node.transaction() as session:
        taps = list(session.scalars(select(Tap).order_by(Tap.tapped_at, Tap.id)))
        prior: dict[str, list[fares.PriorRide]] = {r.card_no: [] for r in riders}
        dearer_in_time_order = 0
        for tap in taps:
            assert tap.card_no is not None
            now_fare = tap.amount - tap.refunded
            assert now_fare <= first_charge[tap.id]
            line = tap.details["line"]
            day = tap.tapped_at.astimezone(_LOCAL).date()
            quote = fares.quote_fare(
                transit.policy_on(day),
                fares.Ride("bus", line, tap.tapped_at),
                "ordinary",
                prior[tap.card_no],
            )
            assert now_fare <= quote.fare, (tap.id, now_fare, quote.fare, quote.steps)
            dearer_in_time_order += now_fare < quote.fare
            prior[tap.card_no].append(fares.PriorRide("bus", line, tap.tapped_at, now_fare))
        refunded = sum(t.refunded for t in taps)
        adjusted = session.scalar(select(func.sum(FareAdjustment.amount)))
        assert refunded == adjusted and refunded > 0
        assert session.scalar(select(func.count()).select_from(FareAdjustment)) == adjustments
        merchant = acquiring.get_merchant(session, "qd-bus")
        assert ledger.balance(session, merchant.acquired_account_id) == sum(
            t.amount - t.refunded for t in taps if t.status is TapStatus.APPROVED
        )
        spent = sum(50_000 - transit.transport_balance(session, rider.card_no) for rider in riders)
        assert spent == sum(t.amount - t.refunded for t in taps)
        assert ledger.trial_balance(session).balanced
        # The cards' day totals that price the month's cap agree with the taps.
        assert acquiring.ride_days_disagreeing(session) == []


def test_reconciliation_tells_a_ride_day_total_that_disagrees_with_the_rides(
    kit: Kit, ykt: Ykt
) -> None:
    """The day totals that price the month's cap are checked against the rides: a total
    changed underneath (a bad restore, a hand edit) fails the reconciliation, naming the card."""
    _buses(kit)
    rider = kit.rider()
    kit.fund(rider, transport=5000)
    _late_transfer(kit, rider)
    agreeing = ykt("clearing", "reconcile", "--date", "2025-03-10")
    assert agreeing.exit_code == 0, agreeing.output
    assert "ride-day totals agree" in agreeing.output
    with kit.node.transaction() as session:
        day = session.get(CardRideDay, (rider.card_no, dt.date(2025, 3, 10)))
        assert day is not None and day.fare == 400  # 200, then 300 less the 100 refunded
        day.fare = 1400
    report = ykt("clearing", "reconcile", "--date", "2025-03-10")
    assert report.exit_code == 1, report.output
    assert "ride-day totals of 1 card disagree" in report.output
    assert rider.card_no in report.output
    with kit.node.transaction() as session:
        assert acquiring.ride_days_disagreeing(session) == [
            (rider.card_no, dt.date(2025, 3, 10), 1400, 400)
        ]
