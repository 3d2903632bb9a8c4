"""Tables of benefit disbursement (一卡通发): programmes, beneficiaries, batches and their lines.

A payment line is one person's entitlement for one month of one programme, paid through one
attempt. The unique key (programme, resident, period, attempt) makes a second first attempt for
the same person and month impossible, and ``requeued_from_id`` (unique) lets a failed line be
re-queued once: a month is never paid twice, even by two generators running at the same time.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.core.db import Base, UTCDateTime, index_where_set


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e])


class ProgrammeKind(enum.StrEnum):
    """The programmes paid to the card's financial account (DOMAIN.md §2.2)."""

    BASIC_PENSION = "basic_pension"  # 基本养老金
    UNEMPLOYMENT_BENEFIT = "unemployment_benefit"  # 失业保险金
    SUBSIDY = "subsidy"  # 惠民补贴
    ONE_CHILD_REWARD = "one_child_reward"  # 独生子女父母奖励金
    VETERANS_BENEFIT = "veterans_benefit"  # 退役军人优抚金
    HARDSHIP_AID = "hardship_aid"  # 困难职工救助金


class BeneficiaryStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"
    # Payment held (暂停发放), e.g. pension qualification not certified; resumed with back-pay.
    SUSPENDED = "suspended"


class BatchStatus(enum.StrEnum):
    GENERATED = "generated"  # lines drawn up, waiting for a second clerk (复核)
    APPROVED = "approved"  # money moved from the budget to the payable account
    EXPORTED = "exported"  # bank file produced, waiting for the return file
    CLOSED = "closed"  # every line paid or failed


class LineStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class FailedDisposition(enum.StrEnum):
    """What became of a failed line: paid again in a later batch, or stopped for good."""

    REQUEUED = "requeued"
    STOPPED = "stopped"


class BenefitProgramme(Base):
    __tablename__ = "benefit_programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[ProgrammeKind] = mapped_column(_enum(ProgrammeKind))
    name: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)  # default fen per person and payment
    pay_day: Mapped[int] = mapped_column(Integer)
    months: Mapped[str] = mapped_column(String(40))  # "1,2,…,12": months in which it pays
    policy_source: Mapped[str] = mapped_column(String(120))
    budget_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    payable_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("pay_day BETWEEN 1 AND 28", name="pay_day_range"),
    )

    @property
    def pay_months(self) -> tuple[int, ...]:
        return tuple(int(m) for m in self.months.split(","))


class Beneficiary(Base):
    """A resident enrolled in a programme, paid from ``first_period`` while active."""

    __tablename__ = "benefit_beneficiary"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("benefit_programme.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    amount: Mapped[int | None] = mapped_column(BigInteger)  # None: the programme default
    first_period: Mapped[dt.date] = mapped_column(Date)
    # The last month paid (a one-off grant: the same month as ``first_period``); None: open-ended.
    last_period: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[BeneficiaryStatus] = mapped_column(
        _enum(BeneficiaryStatus), default=BeneficiaryStatus.ACTIVE
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    suspended_since: Mapped[dt.date | None] = mapped_column(Date)  # first month held
    suspension_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("programme_id", "resident_id"),
        CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
        CheckConstraint(
            "last_period IS NULL OR last_period >= first_period", name="last_after_first"
        ),
    )


class PaymentBatch(Base):
    """One monthly disbursement batch (发放批次) of a programme."""

    __tablename__ = "benefit_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("benefit_programme.id"), index=True)
    period: Mapped[dt.date] = mapped_column(Date)  # first day of the month paid
    value_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus))
    line_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PaymentLine(Base):
    """One payment to one person: programme → batch → person → account → bank reference."""

    __tablename__ = "benefit_payment_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("benefit_batch.id"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("benefit_programme.id"))
    # Found by resident through the unique key below, which leads with the resident.
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    period: Mapped[dt.date] = mapped_column(Date)
    attempt: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[LineStatus] = mapped_column(_enum(LineStatus), default=LineStatus.PENDING)
    reference: Mapped[str | None] = mapped_column(String(40), unique=True)
    bank_account_masked: Mapped[str | None] = mapped_column(String(32))
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    disposition: Mapped[FailedDisposition | None] = mapped_column(_enum(FailedDisposition))
    disposition_reason: Mapped[str | None] = mapped_column(String(200))
    requeued_from_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_payment_line.id"))
    approve_transfer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ledger_transfer.id")
    )
    paid_transfer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ledger_transfer.id")
    )
    reversal_transfer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ledger_transfer.id")
    )
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # A person's month is paid once per attempt; the key also finds a person's lines.
        UniqueConstraint("resident_id", "programme_id", "period", "attempt"),
        # A line is re-queued at most once; the few re-queued lines alone are indexed.
        index_where_set("benefit_payment_line", "requeued_from_id", unique=True),
        CheckConstraint("amount > 0", name="amount_positive"),
    )


class Arrear(Base):
    """A month held during a suspension and owed on resumption (补发): paid by the next batch.

    ``line_id`` is set when a batch draws the month up; the payment line's own unique key
    (programme, resident, period, attempt) keeps it from ever being paid twice.
    """

    __tablename__ = "benefit_arrear"

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("benefit_beneficiary.id"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("benefit_programme.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    period: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_payment_line.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("programme_id", "resident_id", "period"),)
