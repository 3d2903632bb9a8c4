"""The entry check at the gate: the holder identified by card or e-SSC code, ID verified,
tickets used once, passes counted against their limit, duplicates recognised, every scan kept."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.venues._world import TIMED, World
from yikatong.cards import service as cards
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.registry import service as registry
from yikatong.venues import service as venues


def test_a_ticket_admits_once_a_quick_second_scan_is_a_duplicate(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    rider = world.rider()
    ticket = world.ticket(rider)
    outcome, reason, entry = world.scan(card_no=rider.card_no)
    assert (outcome, reason, entry.ticket_id) == ("admitted", "ticket", ticket.id)
    fixed_clock.advance(seconds=20)
    assert world.scan(card_no=rider.card_no)[:2] == ("duplicate", "duplicate")
    fixed_clock.advance(minutes=10)
    assert world.scan(card_no=rider.card_no)[:2] == ("refused", "ticket-used")
    with world.node.transaction() as session:
        kept = venues.entries_at(session, "qd-museum", dt.date(2025, 3, 10))
        assert [e.outcome.value for e in kept] == ["refused", "duplicate", "admitted"]
        assert {e.resident_id for e in kept} == {rider.resident_id}


def test_a_pass_counts_entries_up_to_its_limit(world: World, fixed_clock: clock.FixedClock) -> None:
    rider = world.rider()
    world.annual_pass(rider)
    used = []
    for _ in range(3):
        outcome, reason, entry = world.scan(world.park_gate, card_no=rider.card_no)
        assert (outcome, reason) == ("admitted", "pass")
        used.append(entry.details["entries_used"])
        fixed_clock.advance(days=1)
    assert used == [1, 2, 3]
    assert world.scan(world.park_gate, card_no=rider.card_no)[:2] == ("refused", "pass-used-up")
    with world.node.transaction() as session:
        (held,) = venues.passes_of(session, rider.resident_id)
        assert held.entries_used == 3


def test_a_duplicate_scan_does_not_count_against_the_pass(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    rider = world.rider()
    world.annual_pass(rider)
    world.scan(world.park_gate, card_no=rider.card_no)
    fixed_clock.advance(seconds=30)
    assert world.scan(world.park_gate, card_no=rider.card_no)[0] == "duplicate"
    with world.node.transaction() as session:
        assert venues.passes_of(session, rider.resident_id)[0].entries_used == 1


def test_a_pass_cannot_be_used_by_another_person(world: World) -> None:
    owner, friend = world.rider(), world.rider()
    held = world.annual_pass(owner)
    assert world.scan(world.park_gate, card_no=friend.card_no)[:2] == ("refused", "no-ticket")
    outcome, reason, entry = world.scan(
        world.park_gate, card_no=friend.card_no, reference=held.reference
    )
    assert (outcome, reason, entry.resident_id) == ("refused", "not-holder", friend.resident_id)
    with world.node.transaction() as session:
        assert venues.passes_of(session, owner.resident_id)[0].entries_used == 0


def test_a_ticket_for_one_venue_does_not_open_another(world: World) -> None:
    rider = world.rider()
    ticket = world.ticket(rider)
    assert world.scan(world.park_gate, card_no=rider.card_no)[:2] == ("refused", "no-ticket")
    assert world.scan(world.park_gate, card_no=rider.card_no, reference=ticket.reference)[1] == (
        "other-venue"
    )


def test_an_e_ssc_identity_code_admits_its_holder_once(world: World) -> None:
    rider = world.rider()
    world.ticket(rider)
    code = world.qr(rider)
    outcome, reason, entry = world.scan(qr=code)
    assert (outcome, reason, entry.medium, entry.resident_id) == (
        "admitted",
        "ticket",
        "qr",
        rider.resident_id,
    )
    assert world.scan(qr=code)[:2] == ("refused", "qr-replayed")


def test_the_id_read_at_the_gate_must_be_the_holders(world: World) -> None:
    rider, other = world.rider(), world.rider()
    world.ticket(rider)
    with world.node.transaction() as session:
        own = registry.reveal(
            session, rider.resident_id, actor="t", role="admin", reason="test", fields=["id_number"]
        )["id_number"]
        foreign = registry.reveal(
            session, other.resident_id, actor="t", role="admin", reason="test", fields=["id_number"]
        )["id_number"]
    assert own is not None and foreign is not None
    assert world.scan(card_no=rider.card_no, id_number=foreign)[:2] == ("refused", "id-mismatch")
    outcome, _, entry = world.scan(card_no=rider.card_no, id_number=own)
    assert (outcome, entry.id_verified) == ("admitted", True)


def test_a_lost_card_admits_nobody(world: World) -> None:
    rider = world.rider()
    world.ticket(rider)
    with world.node.transaction() as session:
        cards.report_lost(session, rider.card_no, actor="t", reason="lost on the bus")
    outcome, reason, entry = world.scan(card_no=rider.card_no)
    assert outcome == "refused" and reason.startswith("card-")
    assert entry.resident_id == rider.resident_id
    assert world.scan(card_no="999999999")[:2] == ("refused", "unknown-card")


def test_a_slot_ticket_admits_from_half_an_hour_before_its_slot(
    world: World, fixed_clock: clock.FixedClock
) -> None:
    rider = world.rider()
    _, later = world.slots(capacity=5)  # 10:00 and 11:00; the clock stands at 10:00
    world.ticket(rider, TIMED, slot_id=later)
    assert world.scan(card_no=rider.card_no)[:2] == ("refused", "slot-not-started")
    fixed_clock.advance(minutes=31)
    assert world.scan(card_no=rider.card_no)[:2] == ("admitted", "ticket")


def test_a_retried_scan_answers_the_recorded_one(world: World) -> None:
    rider = world.rider()
    world.ticket(rider)
    first = world.scan(card_no=rider.card_no, scan_seq=77)[2]
    again = world.scan(card_no=rider.card_no, scan_seq=77)[2]
    assert (again.id, again.outcome.value) == (first.id, "admitted")


def test_a_scan_presents_one_medium(world: World) -> None:
    with pytest.raises(InvalidInput):
        world.scan()


def test_a_shop_terminal_is_no_gate(world: World) -> None:
    world.kit.merchant("qd-shop", "shop")
    shop = world.kit.device("SHOP-0001", "qd-shop")
    with pytest.raises(Conflict):
        world.scan(shop, card_no="000000001")


def test_admitted_entries_are_evidence_of_life(world: World) -> None:
    seen, unseen = world.rider(), world.rider()
    world.ticket(seen)
    world.scan(card_no=seen.card_no)
    world.scan(card_no=unseen.card_no)  # refused: no ticket, not evidence
    with world.node.transaction() as session:
        found = venues.last_entries(
            session,
            [seen.resident_id, unseen.resident_id],
            since=clock.now() - dt.timedelta(days=365),
        )
    assert found == {seen.resident_id: clock.now()}
