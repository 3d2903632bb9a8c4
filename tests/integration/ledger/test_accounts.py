"""Opening accounts: unique codes, default limit flags by kind, normal sides."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.integration.ledger._books import Books
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.ledger import service
from yikatong.ledger.models import AccountKind, NormalSide


def test_card_purses_refuse_overdraft_by_default(books: Books) -> None:
    assert books.card.debits_must_not_exceed_credits
    assert books.canteen.debits_must_not_exceed_credits
    assert books.budget.debits_must_not_exceed_credits
    assert not books.bank.debits_must_not_exceed_credits


def test_bank_is_debit_normal_and_card_is_credit_normal(books: Books) -> None:
    assert books.bank.normal_side is NormalSide.DEBIT
    assert books.card.normal_side is NormalSide.CREDIT


def test_a_code_is_opened_once(session: Session, books: Books) -> None:
    with pytest.raises(Conflict, match="already exists"):
        service.open_account(session, code="bank:icbc", kind=AccountKind.BANK)


def test_exist_ok_returns_the_same_account(session: Session, books: Books) -> None:
    again = service.open_account(
        session,
        code="card:1:fin",
        kind=AccountKind.CARD_FINANCIAL,
        owner_type="resident",
        owner_id="1",
        exist_ok=True,
    )
    assert again.id == books.card.id


def test_exist_ok_still_refuses_a_different_kind(session: Session, books: Books) -> None:
    with pytest.raises(Conflict):
        service.open_account(session, code="card:1:fin", kind=AccountKind.BANK, exist_ok=True)


def test_both_limit_flags_are_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as info:
        service.open_account(
            session,
            code="x",
            kind=AccountKind.ASSET,
            debits_must_not_exceed_credits=True,
            credits_must_not_exceed_debits=True,
        )
    assert info.value.field == "credits_must_not_exceed_debits"


def test_unknown_code_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="ykt ledger accounts"):
        service.get_account_by_code(session, "nope")


def test_accounts_are_listed_by_owner(session: Session, books: Books) -> None:
    owned = service.list_accounts(session, owner_type="resident", owner_id="1")
    assert [a.code for a in owned] == ["card:1:fin"]
