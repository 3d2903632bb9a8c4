"""Two-phase transfers (预授权): holds reserve funds, then post (partly) or are released."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from tests.integration.ledger._books import Books, counters, request
from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.ledger import service
from yikatong.ledger.models import TransferKind


@pytest.fixture
def funded(session: Session, books: Books) -> Books:
    service.post_transfer(session, request("topup", books.bank, books.card, 1_000))
    return books


def test_a_hold_counts_against_the_available_balance(session: Session, funded: Books) -> None:
    service.post_transfer(session, request("hold", funded.card, funded.canteen, 700, pending=True))
    assert service.balance(session, funded.card.id) == 1_000
    assert service.available(session, funded.card.id) == 300
    with pytest.raises(service.InsufficientFunds):
        service.post_transfer(session, request("meal", funded.card, funded.canteen, 400))


def test_void_leaves_balances_as_before(session: Session, funded: Books) -> None:
    before = counters(session, funded.card), counters(session, funded.canteen)
    hold = service.post_transfer(
        session, request("hold", funded.card, funded.canteen, 700, pending=True)
    )
    service.void_pending(session, hold.id, idempotency_key="void")
    assert (counters(session, funded.card), counters(session, funded.canteen)) == before
    assert service.hold_state(session, hold.id) is TransferKind.VOIDED


def test_partial_post_releases_the_remainder(session: Session, funded: Books) -> None:
    hold = service.post_transfer(
        session, request("hold", funded.card, funded.canteen, 700, pending=True)
    )
    posted = service.post_pending(session, hold.id, idempotency_key="post", amount=450)
    assert posted.amount == 450
    assert counters(session, funded.card) == (450, 1_000, 0, 0)
    assert service.available(session, funded.card.id) == 550
    assert service.balance(session, funded.canteen.id) == 450


def test_a_hold_cannot_post_more_than_it_reserved(session: Session, funded: Books) -> None:
    hold = service.post_transfer(
        session, request("hold", funded.card, funded.canteen, 700, pending=True)
    )
    with pytest.raises(InvalidInput) as info:
        service.post_pending(session, hold.id, idempotency_key="post", amount=701)
    assert info.value.field == "amount"


def test_a_hold_is_resolved_once(session: Session, funded: Books) -> None:
    hold = service.post_transfer(
        session, request("hold", funded.card, funded.canteen, 700, pending=True)
    )
    service.post_pending(session, hold.id, idempotency_key="post")
    with pytest.raises(service.HoldNotOpen):
        service.void_pending(session, hold.id, idempotency_key="void")
    again = service.post_pending(session, hold.id, idempotency_key="post")
    assert again.kind is TransferKind.POSTED_FROM_PENDING
    assert service.balance(session, funded.canteen.id) == 700


def test_stale_holds_expire(session: Session, funded: Books, fixed_clock: clock.FixedClock) -> None:
    hold = service.post_transfer(
        session,
        request(
            "hold", funded.card, funded.canteen, 700, pending=True, timeout=dt.timedelta(minutes=5)
        ),
    )
    assert service.expire_pending(session) == 0
    fixed_clock.advance(minutes=5)
    assert service.expire_pending(session) == 1
    assert service.available(session, funded.card.id) == 1_000
    assert service.hold_state(session, hold.id) is TransferKind.EXPIRED
    assert service.expire_pending(session) == 0


def test_an_expired_hold_cannot_be_posted(
    session: Session, funded: Books, fixed_clock: clock.FixedClock
) -> None:
    hold = service.post_transfer(
        session,
        request(
            "hold", funded.card, funded.canteen, 700, pending=True, timeout=dt.timedelta(minutes=5)
        ),
    )
    fixed_clock.advance(minutes=6)
    with pytest.raises(service.HoldNotOpen, match="expired"):
        service.post_pending(session, hold.id, idempotency_key="late")


def test_only_a_hold_can_time_out(session: Session, funded: Books) -> None:
    with pytest.raises(InvalidInput) as info:
        service.post_transfer(
            session,
            request("k", funded.bank, funded.card, 1, timeout=dt.timedelta(minutes=1)),
        )
    assert info.value.field == "timeout"
