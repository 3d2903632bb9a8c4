"""Shared test helpers: a small chart of accounts and a request builder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from yikatong.ledger import service
from yikatong.ledger.models import Account, AccountKind


@dataclass
class Books:
    """A bank account, a cardholder's purse, a canteen's settlement account, a subsidy budget."""

    bank: Account
    card: Account
    canteen: Account
    budget: Account


def open_books(session: Session, prefix: str = "") -> Books:
    return Books(
        bank=service.open_account(session, code=f"{prefix}bank:icbc", kind=AccountKind.BANK),
        card=service.open_account(
            session,
            code=f"{prefix}card:1:fin",
            kind=AccountKind.CARD_FINANCIAL,
            owner_type="resident",
            owner_id="1",
        ),
        canteen=service.open_account(
            session, code=f"{prefix}merchant:canteen-7", kind=AccountKind.MERCHANT_SETTLEMENT
        ),
        budget=service.open_account(
            session, code=f"{prefix}budget:meal-subsidy", kind=AccountKind.SUBSIDY_BUDGET
        ),
    )


def request(
    key: str, debit: Account, credit: Account, amount: int, **extra: Any
) -> service.TransferRequest:
    return service.TransferRequest(
        idempotency_key=key,
        debit_account_id=debit.id,
        credit_account_id=credit.id,
        amount=amount,
        **extra,
    )


def counters(session: Session, account: Account) -> tuple[int, int, int, int]:
    fresh = service.get_account(session, account.id)
    return (
        fresh.debits_posted,
        fresh.credits_posted,
        fresh.debits_pending,
        fresh.credits_pending,
    )
