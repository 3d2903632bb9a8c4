"""Buying tickets and annual passes: concessions from the venue policy, payment through the
ledger to the operator, idempotency, slot capacity (also under concurrent booking)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from tests.integration.venues._world import PASS, TICKET, TIMED, World
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.ledger import service as ledger
from yikatong.venues import service as venues


def test_an_ordinary_adult_pays_the_full_price_to_the_operator(world: World) -> None:
    rider = world.rider()
    ticket = world.ticket(rider)
    assert (ticket.full_price, ticket.amount, ticket.concession) == (2000, 2000, "none")
    assert ticket.reference.startswith("VT") and ticket.transfer_id is not None
    assert world.balance(rider) == 100_000 - 2000
    assert world.operator_settled() == 2000


def test_a_holder_aged_65_enters_free_and_nothing_is_charged(world: World) -> None:
    rider = world.rider(birth=dt.date(1958, 6, 1))  # 66 on 2025-03-10
    ticket = world.ticket(rider)
    assert (ticket.amount, ticket.concession, ticket.transfer_id) == (0, "age_65", None)
    assert world.balance(rider) == 100_000


def test_a_holder_aged_60_to_64_pays_half(world: World) -> None:
    rider = world.rider(birth=dt.date(1962, 6, 1))  # 62
    ticket = world.ticket(rider)
    assert (ticket.amount, ticket.concession) == (1000, "age_60")
    assert world.balance(rider) == 99_000


def test_the_same_key_answers_the_first_purchase_and_pays_once(world: World) -> None:
    rider = world.rider()
    first = world.ticket(rider, key="same")
    again = world.ticket(rider, key="same")
    assert again.id == first.id
    assert world.balance(rider) == 98_000
    with pytest.raises(Conflict):
        world.ticket(rider, key="same", valid_on=dt.date(2025, 3, 11))


def test_a_card_that_cannot_pay_buys_nothing(world: World) -> None:
    rider = world.rider(money=500)
    with pytest.raises(ledger.InsufficientFunds):
        world.ticket(rider)
    with world.node.transaction() as session:
        assert venues.tickets_of(session, rider.resident_id) == []


def test_tickets_are_sold_within_the_booking_horizon_only(world: World) -> None:
    rider = world.rider()
    with pytest.raises(InvalidInput):
        world.ticket(rider, valid_on=dt.date(2025, 3, 9))
    with pytest.raises(InvalidInput):
        world.ticket(rider, valid_on=dt.date(2025, 3, 10) + dt.timedelta(days=15))
    assert world.ticket(rider, valid_on=dt.date(2025, 3, 24)).valid_on == dt.date(2025, 3, 24)


def test_a_slot_is_never_booked_beyond_its_capacity(world: World) -> None:
    slot, later = world.slots(capacity=2)
    riders = [world.rider() for _ in range(3)]
    world.ticket(riders[0], TIMED, slot_id=slot)
    world.ticket(riders[1], TIMED, slot_id=slot)
    with pytest.raises(venues.SlotFull):
        world.ticket(riders[2], TIMED, slot_id=slot)
    assert world.balance(riders[2]) == 100_000
    assert world.ticket(riders[2], TIMED, slot_id=later).slot_id == later
    with pytest.raises(InvalidInput):
        world.ticket(riders[2], TIMED, key="no-slot")


def test_concurrent_bookings_of_the_last_places_never_exceed_capacity(world: World) -> None:
    (slot, _) = world.slots(capacity=3)
    riders = [world.rider() for _ in range(8)]
    barrier = threading.Barrier(len(riders))
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy(index: int) -> None:
        barrier.wait()
        try:
            world.ticket(riders[index], TIMED, key=f"c{index}", slot_id=slot)
            result = "sold"
        except venues.SlotFull:
            result = "full"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(riders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["full"] * 5 + ["sold"] * 3
    with world.node.transaction() as session:
        (found,) = [
            s for s in venues.slots_of(session, "qd-museum", dt.date(2025, 3, 10)) if s.id == slot
        ]
        assert (found.booked, found.capacity) == (3, 3)
    assert world.operator_settled() == 3 * 3000


def test_an_annual_pass_runs_a_year_and_cannot_be_bought_twice(world: World) -> None:
    rider = world.rider()
    held = world.annual_pass(rider)
    assert (held.valid_from, held.valid_until) == (dt.date(2025, 3, 10), dt.date(2026, 3, 9))
    assert (held.entry_limit, held.entries_used, held.amount) == (3, 0, 10000)
    assert world.annual_pass(rider).id == held.id
    with pytest.raises(Conflict):
        world.annual_pass(rider, key="p2")
    with pytest.raises(InvalidInput):
        world.ticket(rider, PASS, key="wrong-kind")
    assert world.operator_settled() == 10000


def test_a_ticket_of_a_disabled_holder_is_free_under_the_policy(world: World) -> None:
    rider = world.rider()
    with world.node.transaction() as session:
        from yikatong.registry import service as registry

        registry.get_resident(session, rider.resident_id).disabled = True
    ticket = world.ticket(rider, TICKET)
    assert (ticket.amount, ticket.concession) == (0, "disabled")


def test_a_failed_purchase_leaves_nothing_even_when_the_caller_commits(world: World) -> None:
    (slot, _) = world.slots(capacity=5)
    rider = world.rider(money=2500)  # pays the 20-yuan ticket, not the 30-yuan exhibition
    with world.node.transaction() as session:
        with pytest.raises(ledger.InsufficientFunds):
            venues.buy_ticket(session, rider.resident_id, TIMED, idempotency_key="a", slot_id=slot)
        bought = venues.buy_ticket(session, rider.resident_id, TICKET, idempotency_key="b")
    with world.node.transaction() as session:
        (found,) = [
            s for s in venues.slots_of(session, "qd-museum", dt.date(2025, 3, 10)) if s.id == slot
        ]
        assert found.booked == 0
        assert [t.product_id for t in venues.tickets_of(session, rider.resident_id)] == [
            bought.product_id
        ]
