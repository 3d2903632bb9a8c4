"""Reversals, balances in the past, statements and the trial balance."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from tests.integration.ledger._books import Books, request
from yikatong.core import clock
from yikatong.core.errors import Conflict
from yikatong.ledger import service


def test_a_reversal_posts_the_mirror_transfer(session: Session, books: Books) -> None:
    original = service.post_transfer(session, request("topup", books.bank, books.card, 800))
    mirror = service.reverse_transfer(
        session, original.id, idempotency_key="undo", reason="keyed twice"
    )
    assert (mirror.debit_account_id, mirror.credit_account_id) == (books.card.id, books.bank.id)
    assert mirror.reverses_id == original.id
    assert service.balance(session, books.card.id) == 0
    assert service.get_transfer(session, original.id).amount == 800


def test_a_transfer_is_reversed_once(session: Session, books: Books) -> None:
    original = service.post_transfer(session, request("topup", books.bank, books.card, 800))
    service.reverse_transfer(session, original.id, idempotency_key="undo", reason="error")
    with pytest.raises(Conflict, match="already reversed"):
        service.reverse_transfer(session, original.id, idempotency_key="undo-2", reason="error")
    replay = service.reverse_transfer(session, original.id, idempotency_key="undo", reason="error")
    assert replay.reverses_id == original.id


def test_a_reversal_cannot_overdraw_the_card(session: Session, books: Books) -> None:
    topup = service.post_transfer(session, request("topup", books.bank, books.card, 800))
    service.post_transfer(session, request("meal", books.card, books.canteen, 500))
    with pytest.raises(service.InsufficientFunds):
        service.reverse_transfer(session, topup.id, idempotency_key="undo", reason="error")


def test_balance_at_replays_history(
    session: Session, books: Books, fixed_clock: clock.FixedClock
) -> None:
    service.post_transfer(session, request("t1", books.bank, books.card, 1_000))
    first = clock.now()
    fixed_clock.advance(hours=1)
    service.post_transfer(session, request("t2", books.card, books.canteen, 300))
    assert service.balance_at(session, books.card.id, first) == 1_000
    assert service.balance_at(session, books.card.id, first - dt.timedelta(seconds=1)) == 0
    assert service.balance_at(session, books.card.id, clock.now()) == 700


def test_statement_carries_a_running_balance(
    session: Session, books: Books, fixed_clock: clock.FixedClock
) -> None:
    service.post_transfer(session, request("t1", books.bank, books.card, 1_000))
    fixed_clock.advance(hours=1)
    since = clock.now()
    service.post_transfer(session, request("t2", books.card, books.canteen, 300))
    service.post_transfer(session, request("t3", books.card, books.canteen, 200))
    result = service.statement(session, books.card.id, since=since)
    assert result.opening == 1_000
    assert [(line.debit, line.balance) for line in result.lines] == [(300, 700), (200, 500)]
    assert result.closing == service.balance(session, books.card.id)


def test_trial_balance_sums_to_zero(session: Session, books: Books) -> None:
    service.post_transfer(session, request("t1", books.bank, books.card, 1_000))
    service.post_transfer(session, request("t2", books.card, books.canteen, 300))
    service.post_transfer(session, request("t3", books.card, books.canteen, 100, pending=True))
    totals = service.trial_balance(session)
    assert totals.balanced
    assert totals.debits_posted == totals.credits_posted == 1_300
    assert totals.debits_pending == 100
    assert service.verify(session) == []
