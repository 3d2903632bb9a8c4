"""Tables of the double-entry ledger (复式记账), after TigerBeetle's account/transfer model.

An account keeps four running counters in fen: posted and pending debits and credits. A transfer
moves an amount from one account (debited) to another (credited); the rows are only ever inserted.
Two-phase transfers are three rows: the hold (``pending``), then exactly one resolution that
points at it through ``pending_id`` (``posted_from_pending``, ``voided`` or ``expired``); a unique
index on ``pending_id`` makes "resolved twice" impossible even under concurrency.

Every index costs a write per transfer, and the bulk path is bounded by them. So the columns that
almost every transfer leaves empty (``pending_id``, ``reverses_id``, ``expires_at``,
``linked_id``) are indexed only where they are set (partial indexes, on SQLite and PostgreSQL
alike), and an account's history is found through (account, time) indexes that also answer
"balance at" and statement periods: an ordinary transfer writes three index entries besides its
row (idempotency key, debit side, credit side).

The limit flags are also CHECK constraints, so no code path can leave a flagged account overdrawn.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime, index_where_set

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


def _values(enum_cls: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


class NormalSide(enum.StrEnum):
    """The side on which an account's balance grows (借方/贷方)."""

    DEBIT = "debit"
    CREDIT = "credit"


class AccountKind(enum.StrEnum):
    """What an account represents. The platform-specific kinds are liabilities or assets."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"
    BANK = "bank"  # money held at a bank (asset)
    CARD_FINANCIAL = "card_financial"  # a cardholder's financial account (owed to the holder)
    CARD_TRANSPORT = "card_transport"  # a cardholder's transport purse
    MERCHANT_SETTLEMENT = "merchant_settlement"  # owed to a merchant until settled
    SUBSIDY_BUDGET = "subsidy_budget"  # programme money not yet paid out
    CLEARING = "clearing"  # owed to/by other cities or acquirers between settlements

    @property
    def normal_side(self) -> NormalSide:
        return NormalSide.DEBIT if self in _DEBIT_NORMAL else NormalSide.CREDIT


_DEBIT_NORMAL = frozenset({AccountKind.ASSET, AccountKind.EXPENSE, AccountKind.BANK})

# Accounts that hold someone else's money may never pay out more than was paid in.
NO_OVERDRAFT_KINDS = frozenset(
    {
        AccountKind.CARD_FINANCIAL,
        AccountKind.CARD_TRANSPORT,
        AccountKind.MERCHANT_SETTLEMENT,
        AccountKind.SUBSIDY_BUDGET,
    }
)


class TransferKind(enum.StrEnum):
    POSTED = "posted"  # single-phase: posted at once
    PENDING = "pending"  # a hold (预授权): reserved, not yet posted
    POSTED_FROM_PENDING = "posted_from_pending"  # posts (part of) a hold; the rest is released
    VOIDED = "voided"  # releases a hold
    EXPIRED = "expired"  # releases a hold whose timeout passed


# Kinds that change posted balances (statements, balance history, trial balance).
POSTING_KINDS = (TransferKind.POSTED, TransferKind.POSTED_FROM_PENDING)
RESOLVING_KINDS = (TransferKind.POSTED_FROM_PENDING, TransferKind.VOIDED, TransferKind.EXPIRED)


class Account(Base):
    __tablename__ = "ledger_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    owner_type: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[AccountKind] = mapped_column(
        Enum(AccountKind, native_enum=False, length=32, values_callable=_values)
    )
    debits_must_not_exceed_credits: Mapped[bool] = mapped_column(Boolean, default=False)
    credits_must_not_exceed_debits: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_ledger_account_owner", "owner_type", "owner_id"),
        CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
            name="one_limit_flag",
        ),
        CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 "
            "AND debits_pending >= 0 AND credits_pending >= 0",
            name="counters_not_negative",
        ),
        CheckConstraint(
            "NOT debits_must_not_exceed_credits "
            "OR debits_posted + debits_pending <= credits_posted",
            name="debits_within_credits",
        ),
        CheckConstraint(
            "NOT credits_must_not_exceed_debits "
            "OR credits_posted + credits_pending <= debits_posted",
            name="credits_within_debits",
        ),
    )

    @property
    def normal_side(self) -> NormalSide:
        return self.kind.normal_side

    @property
    def balance(self) -> int:
        """Posted balance on the normal side: credits − debits for a credit-normal account."""
        if self.normal_side is NormalSide.DEBIT:
            return self.debits_posted - self.credits_posted
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int | None:
        """What may still be debited (or credited) under the limit flag; ``None`` if unlimited."""
        if self.debits_must_not_exceed_credits:
            return self.credits_posted - self.debits_posted - self.debits_pending
        if self.credits_must_not_exceed_debits:
            return self.debits_posted - self.credits_posted - self.credits_pending
        return None


class Transfer(Base):
    __tablename__ = "ledger_transfer"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[TransferKind] = mapped_column(
        Enum(TransferKind, native_enum=False, length=24, values_callable=_values)
    )
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    # Business code of the event (e.g. a fare, a subsidy payout); chosen by the calling domain.
    code: Mapped[int] = mapped_column(Integer, default=0)
    # For a resolution: the hold it posts, voids or expires (at most one resolution per hold).
    pending_id: Mapped[int | None] = mapped_column(_BIG_ID, ForeignKey("ledger_transfer.id"))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    linked_id: Mapped[str | None] = mapped_column(String(36))
    # A reversal (冲正) points at the transfer it compensates; a transfer is reversed at most once.
    reverses_id: Mapped[int | None] = mapped_column(_BIG_ID, ForeignKey("ledger_transfer.id"))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        Index("ix_ledger_transfer_debit_at", "debit_account_id", "created_at"),
        Index("ix_ledger_transfer_credit_at", "credit_account_id", "created_at"),
        index_where_set("ledger_transfer", "pending_id", unique=True),
        index_where_set("ledger_transfer", "reverses_id", unique=True),
        index_where_set("ledger_transfer", "expires_at"),
        index_where_set("ledger_transfer", "linked_id"),
    )
