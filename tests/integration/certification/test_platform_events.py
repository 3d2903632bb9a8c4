"""Real platform events certify retirees silently (无感认证): a bus tap sent by a signed bus
reader, a meal at an elderly canteen till, an admission at a museum gate — each through the same
HTTP path as the devices — are read as evidence of their own kind by the certification job
(DuckDB, and PySpark on the same inputs), while a retiree with no activity goes to the fallback
work list and a ride older than the 12 months counts for nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from tests.integration.acquiring._kit import Device, Kit, Rider, send
from tests.integration.certification.conftest import World
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BeneficiaryStatus
from yikatong.canteens import service as canteens
from yikatong.cards import service as cards
from yikatong.certification import engines, evidence, rules, service
from yikatong.core import clock
from yikatong.venues import service as venues

AS_OF = dt.date(2026, 3, 10)
LONG_AGO = dt.date(2020, 1, 1)  # enrolled then: the enrolment certifies no more
STAFF = "clerk-cert-test"


def _moment(fixed_clock: clock.FixedClock, day: dt.date, hour: int) -> None:
    """The clock at ``hour``:00 Beijing time on ``day``."""
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    fixed_clock.set(local.astimezone(dt.UTC))


def _card(world: World, resident_id: int) -> Rider:
    """An active card for a retiree of the certification world."""
    with world.node.transaction() as session:
        card = cards.apply_for_card(session, resident_id, actor=STAFF)
        cards.issue_card(session, card.card_no, actor=STAFF, reason="made")
        cards.activate_card(session, card.card_no, actor=STAFF, reason="received")
        return Rider(resident_id, card.card_no, card.card_ref)


def _devices(world: World, kit: Kit) -> tuple[Device, Device, Device]:
    """A bus reader of line 321, a canteen till in 市南 and the gate of the city museum."""
    kit.merchant("qd-bus", "bus", "青岛公交")
    bus = kit.device("BUS-0321", "qd-bus", line="321")
    with world.node.transaction() as session:
        canteens.register_canteen(
            session, code="sn-badaguan", name="八大关街道长者食堂", district_code="370202",
            actor=STAFF,
        )  # fmt: skip
        canteens.fund_budget(session, "370202", amount=1_000_000, reference="fund-1", actor=STAFF)
    till = kit.device("TILL-SN-BADAGUAN", "sn-badaguan")
    kit.merchant("qd-culture", "venue", "青岛市文旅集团")
    with world.node.transaction() as session:
        venues.add_venue(
            session, code="qd-museum", name="青岛市博物馆", category="museum", operator="qd-culture"
        )
        venues.add_product(
            session, venue_code="qd-museum", code="qd-museum-ticket", kind="ticket", name="门票",
            price=2000,
        )  # fmt: skip
        _, private = venues.register_gate(session, "qd-museum", "GATE-MUSEUM-01")
    assert private is not None
    return bus, till, Device("GATE-MUSEUM-01", "Ed25519", private)


def test_taps_meals_and_entries_certify_silently_and_the_inactive_go_to_fallback(
    world: World, client: TestClient, fixed_clock: clock.FixedClock, tmp_path: Path
) -> None:
    _moment(fixed_clock, dt.date(2025, 1, 2), 9)
    tapper = world.retiree("坐公交的", since=LONG_AGO)
    diner = world.retiree("去食堂的", since=LONG_AGO)
    visitor = world.retiree("逛博物馆的", since=LONG_AGO)
    old_rider = world.retiree("去年坐过车的", since=LONG_AGO)
    inactive = world.retiree("没动静的", since=dt.date(2025, 4, 1))
    kit = Kit(world.node)
    bus, till, gate = _devices(world, kit)
    riders = {who: _card(world, who) for who in (tapper, diner, visitor, old_rider)}
    for rider in riders.values():
        kit.fund(rider, fin=20_000, transport=2_000)

    # A ride 14 months before the run: older than the 12 months of evidence.
    _moment(fixed_clock, dt.date(2025, 1, 15), 8)
    old = send(client, bus, "/api/v1/terminal/rides", {"terminal_seq": 1, "card_no": riders[old_rider].card_no})  # fmt: skip
    assert old.json()["decision"] == "approve", old.text
    # This month: a bus ride, a canteen meal and a museum visit, each from its device.
    _moment(fixed_clock, dt.date(2026, 3, 2), 8)
    ride = send(client, bus, "/api/v1/terminal/rides", {"terminal_seq": 2, "card_no": riders[tapper].card_no})  # fmt: skip
    assert ride.json()["decision"] == "approve", ride.text
    _moment(fixed_clock, dt.date(2026, 3, 5), 12)
    meal = send(client, till, "/api/v1/terminal/canteen-meals", {"terminal_seq": 1, "card_no": riders[diner].card_no, "amount": "15.00"})  # fmt: skip
    assert meal.json()["status"] == "approved", meal.text
    _moment(fixed_clock, dt.date(2026, 3, 7), 10)
    with world.node.transaction() as session:
        venues.buy_ticket(session, visitor, "qd-museum-ticket", idempotency_key="museum-1")
    entry = send(client, gate, "/api/v1/terminal/venue-entries", {"scan_seq": 1, "card_no": riders[visitor].card_no})  # fmt: skip
    assert entry.json()["outcome"] == "admitted", entry.text

    _moment(fixed_clock, AS_OF, 10)
    with world.node.transaction() as session:
        # Each event is read as its own kind: the meal and the ticket were card payments too,
        # but neither is a ride.
        seen = set(evidence.collect(session, since=dt.date(2024, 3, 10), until=AS_OF))
        assert (tapper, 2, dt.date(2026, 3, 2)) in seen
        assert (old_rider, 2, dt.date(2025, 1, 15)) in seen
        assert (diner, 3, dt.date(2026, 3, 5)) in seen
        assert (visitor, 4, dt.date(2026, 3, 7)) in seen
        assert not {(who, kind) for who, kind, _ in seen} & {(diner, 2), (visitor, 2)}
        outcome = service.run_certification(
            session, as_of=AS_OF, actor="t", allow_illustrative=True
        )
        assert outcome.engine == "duckdb" and outcome.retirees == 5
        named = {
            who: (service.state_of(session, who).status, service.state_of(session, who).last_kind)
            for who in (tapper, diner, visitor)
        }
        assert named == {
            tapper: ("certified", "transit_tap"),
            diner: ("certified", "canteen_meal"),
            visitor: ("certified", "venue_entry"),
        }
        for who in (tapper, diner, visitor):
            state = service.state_of(session, who)
            assert state.last_channel == "silent" and state.valid_until is not None
            assert state.valid_until > AS_OF + dt.timedelta(days=300)
        # No activity since the enrolment eleven months ago: the service point list.
        quiet = service.state_of(session, inactive)
        assert (quiet.status, quiet.stage) == ("fallback", "service_point")
        listed = service.work_list(session, stage="service_point")
        assert [item.resident_id for item in listed["370202"]] == [inactive]
        # The ride of 14 months ago certifies nothing: past the deadline, pension held.
        late = service.state_of(session, old_rider)
        assert late.status == "suspend" and late.valid_until == dt.date(2026, 1, 15)
        (pension,) = benefits.pensioners(session, resident_id=old_rider)
        assert pension.status is BeneficiaryStatus.SUSPENDED
        report = service.rate_report(session, as_of=AS_OF, allow_illustrative=True)
        assert (report.total.retirees, report.total.certified) == (5, 4)
        assert report.total.by_channel == {"silent": 3, "service_point": 1}

        # PySpark reaches the same decisions on the same inputs.
        policy = service.certification_policy(AS_OF.year, allow_illustrative=True)
        inputs = service.export_inputs(
            session, as_of=AS_OF, directory=tmp_path / "inputs", rule=policy.rule
        )
        thresholds = rules.Thresholds.of(AS_OF, policy.rule)
        duck = engines.run_duckdb(inputs, thresholds)
        assert duck.equals(engines.run_spark(inputs, thresholds))
        rows = {row["resident_id"]: row for row in duck.to_pylist()}
        assert rows[diner]["last_kind"] == "canteen_meal"
        assert rows[visitor]["last_kind"] == "venue_entry"
