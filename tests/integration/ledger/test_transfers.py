"""Single-phase transfers: double entry, refusals that change nothing, idempotency."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.ledger._books import Books, counters, request
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.ledger import service
from yikatong.ledger.models import Transfer


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Transfer)) or 0)


def test_a_transfer_debits_one_account_and_credits_the_other(
    session: Session, books: Books
) -> None:
    service.post_transfer(session, request("topup-1", books.bank, books.card, 10_000))
    assert service.balance(session, books.card.id) == 10_000
    assert service.balance(session, books.bank.id) == 10_000
    assert counters(session, books.card) == (0, 10_000, 0, 0)
    assert counters(session, books.bank) == (10_000, 0, 0, 0)


def test_a_card_cannot_pay_more_than_it_holds(session: Session, books: Books) -> None:
    service.post_transfer(session, request("topup", books.bank, books.card, 1_000))
    with pytest.raises(service.InsufficientFunds) as info:
        service.post_transfer(session, request("meal", books.card, books.canteen, 1_500))
    assert info.value.extra["account"] == "card:1:fin"
    assert info.value.extra["available"] == 1_000
    assert info.value.status == 409
    assert counters(session, books.card) == (0, 1_000, 0, 0)
    assert _count(session) == 1


def test_a_card_can_pay_exactly_its_balance(session: Session, books: Books) -> None:
    service.post_transfer(session, request("topup", books.bank, books.card, 1_000))
    service.post_transfer(session, request("meal", books.card, books.canteen, 1_000))
    assert service.balance(session, books.card.id) == 0


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_must_be_positive(session: Session, books: Books, amount: int) -> None:
    with pytest.raises(InvalidInput) as info:
        service.post_transfer(session, request("k", books.bank, books.card, amount))
    assert info.value.field == "amount"
    assert _count(session) == 0


def test_an_account_cannot_pay_itself(session: Session, books: Books) -> None:
    with pytest.raises(InvalidInput, match="two different accounts"):
        service.post_transfer(session, request("k", books.bank, books.bank, 1))


def test_unknown_account_is_not_found(session: Session, books: Books) -> None:
    bad = service.TransferRequest("k", books.bank.id, 999_999, 1)
    with pytest.raises(NotFound):
        service.post_transfer(session, bad)
    assert _count(session) == 0


def test_replaying_a_key_returns_the_original_transfer(session: Session, books: Books) -> None:
    first = service.post_transfer(session, request("topup", books.bank, books.card, 500))
    again = service.post_transfer(session, request("topup", books.bank, books.card, 500))
    assert again.id == first.id
    assert service.balance(session, books.card.id) == 500


def test_reusing_a_key_for_other_content_is_a_conflict(session: Session, books: Books) -> None:
    service.post_transfer(session, request("topup", books.bank, books.card, 500))
    with pytest.raises(Conflict, match="different content"):
        service.post_transfer(session, request("topup", books.bank, books.card, 501))
    assert service.balance(session, books.card.id) == 500


def test_metadata_links_the_business_event(session: Session, books: Books) -> None:
    transfer = service.post_transfer(
        session,
        request("fare-1", books.bank, books.card, 200, code=3001, metadata={"ride": "R-77"}),
    )
    assert service.get_transfer(session, transfer.id).meta == {"ride": "R-77"}
    assert transfer.code == 3001


def test_linked_transfers_all_post_together(session: Session, books: Books) -> None:
    service.post_transfer(session, request("fund", books.bank, books.budget, 1_000))
    group = service.post_linked(
        session,
        [
            request("subsidy", books.budget, books.card, 300),
            request("meal", books.card, books.canteen, 300),
        ],
    )
    # The meal is paid with a subsidy credited in the same group; one link id ties them.
    assert service.balance(session, books.card.id) == 0
    assert len({t.linked_id for t in group}) == 1


def test_linked_transfers_roll_back_together(session: Session, books: Books) -> None:
    service.post_transfer(session, request("fund", books.bank, books.budget, 1_000))
    with pytest.raises(service.InsufficientFunds):
        service.post_linked(
            session,
            [
                request("subsidy", books.budget, books.card, 300),
                request("meal", books.card, books.canteen, 800),
            ],
        )
    assert service.balance(session, books.card.id) == 0
    assert service.balance(session, books.budget.id) == 1_000
    assert service.get_transfer_by_key(session, "subsidy") is None


def test_linked_group_replay_returns_the_originals(session: Session, books: Books) -> None:
    requests = [
        request("a", books.bank, books.card, 100),
        request("b", books.card, books.canteen, 100),
    ]
    first = service.post_linked(session, requests)
    again = service.post_linked(session, requests)
    assert [t.id for t in again] == [t.id for t in first]
