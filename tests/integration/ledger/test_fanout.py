"""The set-based fan-out: one transfer per row of a query, one account to another, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from tests.integration.ledger._books import Books, counters, request
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.ledger import service
from yikatong.ledger.models import Account, AccountKind, Transfer
from yikatong.ledger.service import InsufficientFunds


def _purses(session: Session, count: int) -> list[Account]:
    return [
        service.open_account(
            session,
            code=f"card:{n}:transport",
            kind=AccountKind.CARD_TRANSPORT,
            owner_type="resident",
            owner_id=str(n),
        )
        for n in range(1, count + 1)
    ]


def _per_purse(prefix: str = "grant", fen_per_id: int = 100) -> Select[*tuple[Any, ...]]:
    """A row per transport purse: its key, an amount that depends on the purse, its code."""
    return select(
        (literal(f"{prefix}:") + cast(Account.id, String)).label("idempotency_key"),
        (Account.id * fen_per_id).label("amount"),
        Account.code.label("purse"),
        Account.id.label("purse_id"),
    ).where(Account.kind == AccountKind.CARD_TRANSPORT)


def _transfers(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Transfer)) or 0)


def test_a_fanout_posts_a_transfer_per_row_with_its_metadata(
    session: Session, books: Books
) -> None:
    purses = _purses(session, 5)
    service.post_transfer(session, request("fund", books.bank, books.budget, 1_000_000))
    before = counters(session, books.budget)

    posted = service.post_fanout(
        session,
        _per_purse(),
        debit_account_id=books.budget.id,
        credit_account_id=books.canteen.id,
        code=7,
    )

    expected = sum(p.id * 100 for p in purses)
    assert (posted.count, posted.total) == (5, expected)
    assert counters(session, books.budget) == (before[0] + expected, *before[1:])
    for purse in purses:
        transfer = service.get_transfer_by_key(session, f"grant:{purse.id}")
        assert transfer is not None
        assert (transfer.debit_account_id, transfer.credit_account_id) == (
            books.budget.id,
            books.canteen.id,
        )
        assert (transfer.amount, transfer.code) == (purse.id * 100, 7)
        assert transfer.meta == {"purse": purse.code, "purse_id": purse.id}
        link = session.scalar(select(service.transfer_id_by_key(literal(f"grant:{purse.id}"))))
        assert link == transfer.id
    assert service.balance(session, books.canteen.id) == expected
    assert service.verify(session) == []
    assert service.trial_balance(session).balanced


def test_an_empty_fanout_posts_nothing(session: Session, books: Books) -> None:
    posted = service.post_fanout(
        session,
        _per_purse(),
        debit_account_id=books.bank.id,
        credit_account_id=books.budget.id,
    )
    assert (posted.count, posted.total) == (0, 0)
    assert _transfers(session) == 0


def test_the_limit_flag_is_checked_against_the_total_and_nothing_is_written(
    session: Session, books: Books
) -> None:
    purses = _purses(session, 3)
    total = sum(p.id * 100 for p in purses)
    service.post_transfer(session, request("fund", books.bank, books.budget, total - 1))
    before = (_transfers(session), counters(session, books.budget))
    with pytest.raises(InsufficientFunds):
        service.post_fanout(
            session,
            _per_purse(),
            debit_account_id=books.budget.id,
            credit_account_id=books.canteen.id,
        )
    assert (_transfers(session), counters(session, books.budget)) == before


def test_a_key_already_used_refuses_the_whole_fanout(session: Session, books: Books) -> None:
    purses = _purses(session, 4)
    service.post_transfer(session, request(f"grant:{purses[2].id}", books.bank, books.card, 5))
    before = (_transfers(session), counters(session, books.bank), counters(session, books.budget))
    with pytest.raises(Conflict, match="already taken"):
        service.post_fanout(
            session,
            _per_purse(),
            debit_account_id=books.bank.id,
            credit_account_id=books.budget.id,
        )
    # The session goes on: the failed insert was confined to its savepoint.
    assert before == (
        _transfers(session),
        counters(session, books.bank),
        counters(session, books.budget),
    )
    assert service.balance(session, books.card.id) == 5


def test_bad_rows_and_accounts_are_refused_before_anything_is_written(
    session: Session, books: Books
) -> None:
    _purses(session, 2)
    fanout = service.post_fanout
    accounts = {"debit_account_id": books.bank.id, "credit_account_id": books.budget.id}
    with pytest.raises(InvalidInput) as caught:
        fanout(session, _per_purse(fen_per_id=0), **accounts)
    assert caught.value.field == "amount"
    with pytest.raises(InvalidInput) as caught:
        fanout(session, _per_purse(prefix="k" * 130), **accounts)
    assert caught.value.field == "idempotency_key"
    with pytest.raises(InvalidInput):
        fanout(
            session, _per_purse(), debit_account_id=books.bank.id, credit_account_id=books.bank.id
        )
    with pytest.raises(NotFound):
        fanout(session, _per_purse(), debit_account_id=books.bank.id, credit_account_id=999_999)
    with pytest.raises(ValueError, match="idempotency_key"):
        fanout(session, select(Account.id.label("amount")), **accounts)
    with pytest.raises(ValueError, match="integer"):
        fanout(
            session,
            select(Account.code.label("idempotency_key"), cast(Account.id, String).label("amount")),
            **accounts,
        )
    assert _transfers(session) == 0
    assert service.verify(session) == []


def test_ordered_fanout_numbers_the_transfers_in_that_order_on_sqlite(
    session: Session, books: Books
) -> None:
    """With ``order_by`` the caller learns which transfer each row became without a key lookup
    per row: on SQLite the ids run from ``first_id`` in the column's order; PostgreSQL's ids
    come from a shared sequence, so it answers ``None`` and the caller looks keys up."""
    purses = _purses(session, 4)
    service.post_transfer(session, request("fund", books.bank, books.budget, 1_000_000))
    descending = _per_purse().add_columns((-Account.id).label("rank"))
    posted = service.post_fanout(
        session,
        descending,
        debit_account_id=books.budget.id,
        credit_account_id=books.canteen.id,
        order_by="rank",
    )
    ids = {
        p.id: service.get_transfer_by_key(session, f"grant:{p.id}").id  # type: ignore[union-attr]
        for p in purses
    }
    if session.get_bind().dialect.name == "sqlite":
        assert posted.first_id is not None
        # The highest purse id has the lowest rank: its transfer comes first.
        by_rank = sorted(purses, key=lambda p: -p.id)
        assert [ids[p.id] for p in by_rank] == list(range(posted.first_id, posted.first_id + 4))
    else:
        assert posted.first_id is None
    with pytest.raises(ValueError, match="cannot order by"):
        service.post_fanout(
            session,
            _per_purse(prefix="again"),
            debit_account_id=books.budget.id,
            credit_account_id=books.canteen.id,
            order_by="nope",
        )
    assert service.verify(session) == []
