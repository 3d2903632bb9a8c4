"""HTTP API of the ledger (复式记账) for staff: admins write, auditors and admins read.

Amounts come in as yuan strings ("12.34") and go out as integer fen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import RowId, SessionDep
from yikatong.core.errors import InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.ledger import service
from yikatong.ledger.models import Account, AccountKind, NormalSide, Transfer, TransferKind

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

_READ = require("admin", "auditor")
_WRITE = require("admin")

Key = Annotated[str, Field(min_length=1, max_length=128, examples=["topup-2025-000123"])]
Yuan = Annotated[str, Field(max_length=24, examples=["12.34"])]


class AccountIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, examples=["card:370200123:fin"])
    kind: AccountKind
    name: str = Field(default="", max_length=200)
    owner_type: str | None = Field(default=None, max_length=32)
    owner_id: str | None = Field(default=None, max_length=64)
    debits_must_not_exceed_credits: bool | None = Field(
        default=None, description="Default: on for card, merchant and budget accounts"
    )
    credits_must_not_exceed_debits: bool = False


class AccountOut(BaseModel):
    id: int
    code: str
    name: str
    kind: AccountKind
    normal_side: NormalSide
    owner_type: str | None
    owner_id: str | None
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    balance: int = Field(description="Posted balance in fen on the account's normal side")
    available: int | None = Field(description="Fen still spendable under the limit flag")
    created_at: dt.datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            code=account.code,
            name=account.name,
            kind=account.kind,
            normal_side=account.normal_side,
            owner_type=account.owner_type,
            owner_id=account.owner_id,
            currency=account.currency,
            debits_must_not_exceed_credits=account.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits=account.credits_must_not_exceed_debits,
            debits_posted=account.debits_posted,
            credits_posted=account.credits_posted,
            debits_pending=account.debits_pending,
            credits_pending=account.credits_pending,
            balance=account.balance,
            available=account.available,
            created_at=account.created_at,
        )


class TransferIn(BaseModel):
    idempotency_key: Key
    debit_account: str = Field(
        min_length=1, max_length=64, description="Code of the debited account"
    )
    credit_account: str = Field(min_length=1, max_length=64)
    amount: Yuan
    code: int = Field(default=0, ge=0, le=2_000_000_000, description="Business event code")
    pending: bool = Field(default=False, description="Place a hold (预授权) instead of posting")
    timeout_seconds: int | None = Field(default=None, gt=0, le=366 * 86400)
    metadata: dict[str, Any] = Field(default_factory=dict)


class TransferOut(BaseModel):
    id: int
    idempotency_key: str
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    code: int
    pending_id: int | None
    expires_at: dt.datetime | None
    linked_id: str | None
    reverses_id: int | None
    metadata: dict[str, Any]
    created_at: dt.datetime

    @classmethod
    def of(cls, transfer: Transfer) -> TransferOut:
        return cls(
            id=transfer.id,
            idempotency_key=transfer.idempotency_key,
            kind=transfer.kind,
            debit_account_id=transfer.debit_account_id,
            credit_account_id=transfer.credit_account_id,
            amount=transfer.amount,
            code=transfer.code,
            pending_id=transfer.pending_id,
            expires_at=transfer.expires_at,
            linked_id=transfer.linked_id,
            reverses_id=transfer.reverses_id,
            metadata=dict(transfer.meta or {}),
            created_at=transfer.created_at,
        )


class ReverseIn(BaseModel):
    idempotency_key: Key
    reason: str = Field(min_length=1, max_length=200)


class PostPendingIn(BaseModel):
    idempotency_key: Key
    amount: Yuan | None = Field(default=None, description="Omit to post the whole hold")


class VoidIn(BaseModel):
    idempotency_key: Key


class BalanceOut(BaseModel):
    account: str
    at: dt.datetime | None
    balance: int


class StatementLineOut(BaseModel):
    transfer_id: int
    at: dt.datetime
    kind: TransferKind
    code: int
    counterparty_account_id: int
    debit: int
    credit: int
    balance: int
    metadata: dict[str, Any]


class StatementOut(BaseModel):
    account: str
    since: dt.datetime | None
    until: dt.datetime | None
    opening: int
    closing: int
    lines: list[StatementLineOut]


class TrialBalanceRowOut(BaseModel):
    kind: AccountKind
    accounts: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


class TrialBalanceOut(BaseModel):
    rows: list[TrialBalanceRowOut]
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    balanced: bool


def _aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(
            "give the time with its offset, e.g. 2025-03-10T10:00:00+08:00", field=field
        )
    return value


def _positive_yuan(text: str, field: str) -> int:
    amount = parse_yuan(text, field=field)
    if amount <= 0:
        raise InvalidInput("the amount must be positive", field=field)
    return amount


@router.post(
    "/accounts",
    response_model=AccountOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open a ledger account",
)
def open_account(body: AccountIn, session: SessionDep, _: Principal = _WRITE) -> AccountOut:
    account = service.open_account(
        session,
        code=body.code,
        kind=body.kind,
        name=body.name,
        owner_type=body.owner_type,
        owner_id=body.owner_id,
        debits_must_not_exceed_credits=body.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=body.credits_must_not_exceed_debits,
    )
    return AccountOut.of(account)


@router.get("/accounts", response_model=list[AccountOut], summary="List ledger accounts")
def list_accounts(
    session: SessionDep,
    _: Principal = _READ,
    kind: AccountKind | None = None,
    owner_type: Annotated[str | None, Query(max_length=32)] = None,
    owner_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AccountOut]:
    accounts = service.list_accounts(
        session, kind=kind, owner_type=owner_type, owner_id=owner_id, limit=limit
    )
    return [AccountOut.of(a) for a in accounts]


@router.get("/accounts/{code}", response_model=AccountOut, summary="Read an account")
def get_account(code: str, session: SessionDep, _: Principal = _READ) -> AccountOut:
    return AccountOut.of(service.get_account_by_code(session, code))


@router.get(
    "/accounts/{code}/balance", response_model=BalanceOut, summary="Balance now or at an instant"
)
def balance(
    code: str, session: SessionDep, _: Principal = _READ, at: dt.datetime | None = None
) -> BalanceOut:
    account = service.get_account_by_code(session, code)
    when = _aware(at, "at")
    value = (
        service.balance(session, account.id)
        if when is None
        else service.balance_at(session, account.id, when)
    )
    return BalanceOut(account=account.code, at=when, balance=value)


@router.get(
    "/accounts/{code}/statement", response_model=StatementOut, summary="Account statement (对账单)"
)
def statement(
    code: str,
    session: SessionDep,
    _: Principal = _READ,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> StatementOut:
    account = service.get_account_by_code(session, code)
    result = service.statement(
        session,
        account.id,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        limit=limit,
    )
    return StatementOut(
        account=result.code,
        since=result.since,
        until=result.until,
        opening=result.opening,
        closing=result.closing,
        lines=[
            StatementLineOut(
                transfer_id=line.transfer_id,
                at=line.at,
                kind=line.kind,
                code=line.code,
                counterparty_account_id=line.counterparty_account_id,
                debit=line.debit,
                credit=line.credit,
                balance=line.balance,
                metadata=line.metadata,
            )
            for line in result.lines
        ],
    )


@router.post(
    "/transfers",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    summary="Post a transfer or place a hold (idempotent by key)",
)
def post_transfer(body: TransferIn, session: SessionDep, _: Principal = _WRITE) -> TransferOut:
    amount = _positive_yuan(body.amount, "amount")
    debit = service.get_account_by_code(session, body.debit_account)
    credit = service.get_account_by_code(session, body.credit_account)
    transfer = service.post_transfer(
        session,
        service.TransferRequest(
            idempotency_key=body.idempotency_key,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount=amount,
            code=body.code,
            pending=body.pending,
            timeout=(
                dt.timedelta(seconds=body.timeout_seconds)
                if body.timeout_seconds is not None
                else None
            ),
            metadata=body.metadata,
        ),
    )
    return TransferOut.of(transfer)


@router.get("/transfers/{transfer_id}", response_model=TransferOut, summary="Read a transfer")
def get_transfer(transfer_id: RowId, session: SessionDep, _: Principal = _READ) -> TransferOut:
    return TransferOut.of(service.get_transfer(session, transfer_id))


@router.post(
    "/transfers/{transfer_id}/reverse",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    summary="Post the compensating transfer (冲正)",
)
def reverse_transfer(
    transfer_id: RowId, body: ReverseIn, session: SessionDep, _: Principal = _WRITE
) -> TransferOut:
    transfer = service.reverse_transfer(
        session, transfer_id, idempotency_key=body.idempotency_key, reason=body.reason
    )
    return TransferOut.of(transfer)


@router.post(
    "/transfers/{transfer_id}/post",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    summary="Post a hold in full or in part; the rest is released",
)
def post_pending(
    transfer_id: RowId, body: PostPendingIn, session: SessionDep, _: Principal = _WRITE
) -> TransferOut:
    amount = None if body.amount is None else _positive_yuan(body.amount, "amount")
    transfer = service.post_pending(
        session, transfer_id, idempotency_key=body.idempotency_key, amount=amount
    )
    return TransferOut.of(transfer)


@router.post(
    "/transfers/{transfer_id}/void",
    response_model=TransferOut,
    status_code=status.HTTP_201_CREATED,
    summary="Release a hold",
)
def void_pending(
    transfer_id: RowId, body: VoidIn, session: SessionDep, _: Principal = _WRITE
) -> TransferOut:
    transfer = service.void_pending(session, transfer_id, idempotency_key=body.idempotency_key)
    return TransferOut.of(transfer)


@router.get("/trial-balance", response_model=TrialBalanceOut, summary="Trial balance (试算平衡)")
def trial_balance(session: SessionDep, _: Principal = _READ) -> TrialBalanceOut:
    result = service.trial_balance(session)
    return TrialBalanceOut(
        rows=[
            TrialBalanceRowOut(
                kind=row.kind,
                accounts=row.accounts,
                debits_posted=row.debits_posted,
                credits_posted=row.credits_posted,
                debits_pending=row.debits_pending,
                credits_pending=row.credits_pending,
            )
            for row in result.rows
        ],
        debits_posted=result.debits_posted,
        credits_posted=result.credits_posted,
        debits_pending=result.debits_pending,
        credits_pending=result.credits_pending,
        balanced=result.balanced,
    )
