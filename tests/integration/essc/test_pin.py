"""The 6-digit payment PIN (支付密码): L2 codes need it; five wrong tries lock it for 24 hours."""

from __future__ import annotations

import pytest

from tests.integration.essc.conftest import CLERK, People
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput, Locked
from yikatong.essc import service
from yikatong.essc.service import WrongPin
from yikatong.essc.tokens import Level
from yikatong.node import Node

PIN = "428135"


def issue_l2(node: Node, resident_id: int, pin: str | None) -> service.IssuedQr:
    return service.run_counting_pin_failures(
        node.transaction, lambda session: service.issue_qr(session, resident_id, "L2", pin=pin)
    )


def test_the_pin_is_stored_as_a_salted_slow_hash(node: Node, people: People) -> None:
    first, second = people.resident(), people.resident()
    ids = [people.account(first, pin=PIN), people.account(second, pin=PIN)]
    with node.transaction() as session:
        accounts = [service.get_account(session, i) for i in ids]
    assert all(a.pin_hash and PIN.encode() not in a.pin_hash for a in accounts)
    assert accounts[0].pin_hash != accounts[1].pin_hash  # per-account salt


def test_an_l2_code_needs_the_correct_pin(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person, pin=PIN)
    issued = issue_l2(node, person.resident_id, PIN)
    assert issued.claims.level is Level.L2
    assert issued.claims.card_ref == person.card_ref


def test_an_l2_code_without_a_pin_names_the_field(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person, pin=PIN)
    with pytest.raises(InvalidInput) as caught:
        issue_l2(node, person.resident_id, None)
    assert caught.value.field == "pin"


def test_an_l2_code_before_any_pin_is_set_is_refused(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person)
    with pytest.raises(Conflict, match="set a 6-digit PIN first"):
        issue_l2(node, person.resident_id, PIN)


def test_five_wrong_pins_lock_even_the_right_one(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person, pin=PIN)
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongPin) as caught:
            issue_l2(node, person.resident_id, "000000")
        assert caught.value.extra["tries_left"] == left
    with pytest.raises(Locked):
        issue_l2(node, person.resident_id, "000000")
    with pytest.raises(Locked, match="locked after 5 wrong tries"):
        issue_l2(node, person.resident_id, PIN)


def test_a_correct_pin_clears_the_count_of_wrong_ones(node: Node, people: People) -> None:
    person = people.resident()
    people.account(person, pin=PIN)
    for _ in range(4):
        with pytest.raises(WrongPin):
            issue_l2(node, person.resident_id, "000000")
    issue_l2(node, person.resident_id, PIN)
    with pytest.raises(WrongPin) as caught:
        issue_l2(node, person.resident_id, "000000")
    assert caught.value.extra["tries_left"] == 4


def test_the_lock_lifts_after_24_hours(
    node: Node, people: People, fixed_clock: clock.FixedClock
) -> None:
    person = people.resident()
    people.account(person, pin=PIN)
    for _ in range(5):
        with pytest.raises((WrongPin, Locked)):
            issue_l2(node, person.resident_id, "000000")
    fixed_clock.advance(hours=23, minutes=59)
    with pytest.raises(Locked):
        issue_l2(node, person.resident_id, PIN)
    fixed_clock.advance(minutes=1)
    assert issue_l2(node, person.resident_id, PIN).claims.level is Level.L2


def test_a_clerk_reset_lifts_the_lock_and_lets_the_holder_set_a_new_pin(
    node: Node, people: People
) -> None:
    person = people.resident()
    account_id = people.account(person, pin=PIN)
    for _ in range(5):
        with pytest.raises((WrongPin, Locked)):
            issue_l2(node, person.resident_id, "000000")
    with node.transaction() as session:
        service.reset_pin(session, account_id, actor=CLERK)
    with node.transaction() as session:
        service.set_pin(session, account_id, "975310")
    assert issue_l2(node, person.resident_id, "975310").claims.level is Level.L2


def test_changing_the_pin_needs_the_current_one(node: Node, people: People) -> None:
    person = people.resident()
    account_id = people.account(person, pin=PIN)
    with pytest.raises(InvalidInput) as caught, node.transaction() as session:
        service.set_pin(session, account_id, "975310")
    assert caught.value.field == "current_pin"
    with node.transaction() as session:
        service.set_pin(session, account_id, "975310", current_pin=PIN)
    assert issue_l2(node, person.resident_id, "975310").claims.level is Level.L2


def test_a_pin_must_be_six_digits(node: Node, people: People) -> None:
    person = people.resident()
    account_id = people.account(person)
    for bad in ("12345", "1234567", "12a456", ""):
        with pytest.raises(InvalidInput) as caught, node.transaction() as session:
            service.set_pin(session, account_id, bad)
        assert caught.value.field == "new_pin"
