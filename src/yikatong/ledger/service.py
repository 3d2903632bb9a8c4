"""The ledger's use cases (复式记账): accounts, transfers, holds, reversals, statements.

Every balance change on the platform is a transfer posted here: one account debited, another
credited by the same positive amount in fen, so the sum of all debits always equals the sum of all
credits. Transfers are never edited; a mistake is undone by a compensating transfer (冲正).

Balances: an account's ``balance`` is on its normal side (see ``AccountKind.normal_side``):
credits − debits for liabilities, card purses, budgets, revenue and equity; debits − credits for
assets, bank and expense accounts.

Concurrency: each posting locks the account rows it touches (``SELECT … FOR UPDATE`` in ascending
id order, so two transfers over the same accounts never deadlock) before it reads the idempotency
key and the balances, then writes the transfer and the new counters in the caller's transaction.
On SQLite the transaction already holds the write lock (``BEGIN IMMEDIATE`` in ``core.db``).
The limit flags are additionally CHECK constraints on the account table.

Idempotency: a transfer's content is (kind, debit account, credit account, amount, code, pending
id, reversed transfer). The same key with the same content returns the original transfer; the
same key with a different content is a ``Conflict``. Metadata is not part of the content.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Integer,
    ScalarSelect,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, make_transient_to_detached
from sqlalchemy.sql import Select

from yikatong.core import clock, db
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import Fen, format_yuan
from yikatong.ledger.models import (
    NO_OVERDRAFT_KINDS,
    POSTING_KINDS,
    RESOLVING_KINDS,
    Account,
    AccountKind,
    NormalSide,
    Transfer,
    TransferKind,
)

_ACCOUNTS = cast(Table, Account.__table__)
_TRANSFERS = cast(Table, Transfer.__table__)
# Keeps IN lists and multi-row statements under every driver's bound-parameter limit.
_CHUNK = 900


class InsufficientFunds(Conflict):
    """A flagged account would pay out more than it holds (余额不足)."""

    slug = "insufficient-funds"
    title = "Insufficient funds"


class HoldNotOpen(Conflict):
    """The hold was already posted, voided or expired."""

    slug = "hold-not-open"
    title = "Hold not open"


# --------------------------------------------------------------------------- requests/results


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer to post: ``amount`` fen from ``debit_account_id`` to ``credit_account_id``.

    ``pending=True`` places a hold (预授权) instead, optionally expiring after ``timeout``.
    """

    idempotency_key: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    code: int = 0
    pending: bool = False
    timeout: dt.timedelta | None = None
    metadata: Mapping[str, Any] | None = None


class BatchStatus(enum.StrEnum):
    POSTED = "posted"
    DUPLICATE = "duplicate"  # the key was already posted with the same content
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    idempotency_key: str
    status: BatchStatus
    transfer_id: int | None = None
    reason: str | None = None
    error: str | None = None  # problem slug of the rejection (insufficient-funds, conflict, …)


@dataclass(frozen=True, slots=True)
class StatementLine:
    transfer_id: int
    at: dt.datetime
    kind: TransferKind
    code: int
    counterparty_account_id: int
    debit: Fen
    credit: Fen
    balance: Fen
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Statement:
    """Account statement (对账单) over ``[since, until)`` with a running normal-side balance."""

    account_id: int
    code: str
    since: dt.datetime | None
    until: dt.datetime | None
    opening: Fen
    closing: Fen
    lines: list[StatementLine] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    kind: AccountKind
    accounts: int
    debits_posted: Fen
    credits_posted: Fen
    debits_pending: Fen
    credits_pending: Fen


@dataclass(frozen=True, slots=True)
class TrialBalance:
    """Trial balance (试算平衡): per kind, and the totals that must agree."""

    rows: list[TrialBalanceRow]
    debits_posted: Fen
    credits_posted: Fen
    debits_pending: Fen
    credits_pending: Fen

    @property
    def balanced(self) -> bool:
        return (
            self.debits_posted == self.credits_posted
            and self.debits_pending == self.credits_pending
        )


# --------------------------------------------------------------------------- accounts


def open_account(
    session: Session,
    *,
    code: str,
    kind: AccountKind,
    name: str = "",
    owner_type: str | None = None,
    owner_id: str | None = None,
    debits_must_not_exceed_credits: bool | None = None,
    credits_must_not_exceed_debits: bool = False,
    currency: str = "CNY",
    exist_ok: bool = False,
) -> Account:
    """Open an account. Card purses, merchant and budget accounts refuse overdraft by default.

    With ``exist_ok`` an existing account with the same code, kind and owner is returned, so that
    domains can open the accounts they need on first use.
    """
    code = code.strip()
    if not code or len(code) > 64:
        raise InvalidInput(
            "an account code is 1–64 characters, e.g. card:370200123:fin", field="code"
        )
    if currency != "CNY":
        raise InvalidInput("the ledger keeps CNY only", field="currency")
    if debits_must_not_exceed_credits is None:
        debits_must_not_exceed_credits = kind in NO_OVERDRAFT_KINDS and not (
            credits_must_not_exceed_debits
        )
    if debits_must_not_exceed_credits and credits_must_not_exceed_debits:
        raise InvalidInput(
            "an account may carry only one of the limit flags",
            field="credits_must_not_exceed_debits",
        )
    existing = session.scalar(select(Account).where(Account.code == code))
    if existing is not None:
        same = (existing.kind, existing.owner_type, existing.owner_id) == (
            kind,
            owner_type,
            owner_id,
        )
        if exist_ok and same:
            return existing
        raise Conflict(
            f"account {code} already exists (kind {existing.kind}); choose another code",
            account=code,
        )
    account = Account(
        code=code,
        name=name,
        owner_type=owner_type,
        owner_id=owner_id,
        kind=kind,
        debits_must_not_exceed_credits=debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=credits_must_not_exceed_debits,
        currency=currency,
        debits_posted=0,
        credits_posted=0,
        debits_pending=0,
        credits_pending=0,
        created_at=clock.now(),
    )
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: int) -> Account:
    """The account with its current counters (re-read from the database)."""
    account = session.scalar(
        select(Account).where(Account.id == account_id).execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound(f"no ledger account with id {account_id}", account_id=account_id)
    return account


def get_account_by_code(session: Session, code: str) -> Account:
    account = session.scalar(
        select(Account).where(Account.code == code).execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound(
            f"no ledger account with code {code!r}; list them with `ykt ledger accounts`"
        )
    return account


def existing_account_ids(
    session: Session, owners: Mapping[str, str], *, kind: AccountKind, owner_type: str
) -> dict[str, int]:
    """``existing_account_id`` of many accounts of one kind and owner type at once: ``owners``
    maps each code to its owner id; the codes found with that kind and owner, to their ids."""
    found: dict[str, int] = {}
    for condition in db.one_of(session, _ACCOUNTS.c.code, sorted(owners)):
        rows = session.execute(
            select(
                _ACCOUNTS.c.code,
                _ACCOUNTS.c.id,
                _ACCOUNTS.c.kind,
                _ACCOUNTS.c.owner_type,
                _ACCOUNTS.c.owner_id,
            ).where(condition)
        )
        found.update(
            (str(code), int(account_id))
            for code, account_id, row_kind, row_owner_type, owner_id in rows
            if (row_kind, row_owner_type, owner_id) == (kind, owner_type, owners[code])
        )
    return found


_ACCOUNT_BY_CODE = select(
    _ACCOUNTS.c.id, _ACCOUNTS.c.kind, _ACCOUNTS.c.owner_type, _ACCOUNTS.c.owner_id
).where(_ACCOUNTS.c.code == bindparam("code"))


def existing_account_id(
    session: Session, code: str, *, kind: AccountKind, owner_type: str, owner_id: str
) -> int | None:
    """Id of the account with this code if it exists with this kind and owner (what
    ``open_account(..., exist_ok=True)`` would return), else None: one statement built once,
    for hot paths that open accounts on first use."""
    row = session.execute(_ACCOUNT_BY_CODE, {"code": code}).first()
    if row is None or (row[1], row[2], row[3]) != (kind, owner_type, owner_id):
        return None
    return int(row[0])


def list_accounts(
    session: Session,
    *,
    kind: AccountKind | None = None,
    owner_type: str | None = None,
    owner_id: str | None = None,
    limit: int = 1000,
) -> list[Account]:
    query = select(Account).order_by(Account.id).limit(limit)
    if kind is not None:
        query = query.where(Account.kind == kind)
    if owner_type is not None:
        query = query.where(Account.owner_type == owner_type)
    if owner_id is not None:
        query = query.where(Account.owner_id == owner_id)
    return list(session.scalars(query.execution_options(populate_existing=True)))


def balance(session: Session, account_id: int) -> Fen:
    """Posted balance on the account's normal side (pending holds not included)."""
    return Fen(get_account(session, account_id).balance)


def available(session: Session, account_id: int) -> Fen | None:
    """What a flagged account can still pay out after holds; ``None`` for unlimited accounts."""
    value = get_account(session, account_id).available
    return None if value is None else Fen(value)


def _posted_sums(
    session: Session, account_id: int, *, before: dt.datetime | None, inclusive: bool
) -> tuple[int, int]:
    """(debits, credits) of posted history, optionally only up to ``before``."""
    sums: list[int] = []
    for column in (Transfer.debit_account_id, Transfer.credit_account_id):
        query = select(func.coalesce(func.sum(Transfer.amount), 0)).where(
            column == account_id, Transfer.kind.in_(POSTING_KINDS)
        )
        if before is not None:
            query = query.where(
                Transfer.created_at <= before if inclusive else Transfer.created_at < before
            )
        sums.append(int(session.scalar(query) or 0))
    return sums[0], sums[1]


def _signed(side: NormalSide, debits: int, credits: int) -> Fen:
    return Fen(debits - credits if side is NormalSide.DEBIT else credits - debits)


def balance_at(session: Session, account_id: int, at: dt.datetime) -> Fen:
    """Posted balance as it stood at instant ``at`` (inclusive), replayed from the history."""
    account = get_account(session, account_id)
    debits, credits = _posted_sums(session, account_id, before=at, inclusive=True)
    return _signed(account.normal_side, debits, credits)


def statement(
    session: Session,
    account_id: int,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 10_000,
) -> Statement:
    """Posted entries in ``[since, until)`` in posting order, each with the balance after it."""
    if since is not None and until is not None and until < since:
        raise InvalidInput("the statement must end after it starts", field="until")
    account = get_account(session, account_id)
    side = account.normal_side
    if since is None:
        opening = Fen(0)
    else:
        debits, credits = _posted_sums(session, account_id, before=since, inclusive=False)
        opening = _signed(side, debits, credits)
    query = (
        select(Transfer)
        .where(
            or_(Transfer.debit_account_id == account_id, Transfer.credit_account_id == account_id),
            Transfer.kind.in_(POSTING_KINDS),
        )
        .order_by(Transfer.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(Transfer.created_at >= since)
    if until is not None:
        query = query.where(Transfer.created_at < until)
    running = int(opening)
    lines: list[StatementLine] = []
    for transfer in session.scalars(query):
        is_debit = transfer.debit_account_id == account_id
        debit = transfer.amount if is_debit else 0
        credit = 0 if is_debit else transfer.amount
        running += debit - credit if side is NormalSide.DEBIT else credit - debit
        lines.append(
            StatementLine(
                transfer_id=transfer.id,
                at=transfer.created_at,
                kind=transfer.kind,
                code=transfer.code,
                counterparty_account_id=(
                    transfer.credit_account_id if is_debit else transfer.debit_account_id
                ),
                debit=Fen(debit),
                credit=Fen(credit),
                balance=Fen(running),
                metadata=dict(transfer.meta or {}),
            )
        )
    return Statement(
        account_id=account.id,
        code=account.code,
        since=since,
        until=until,
        opening=opening,
        closing=Fen(running),
        lines=lines,
    )


def trial_balance(session: Session) -> TrialBalance:
    """Sums of the counters per account kind; total debits must equal total credits."""
    query = (
        select(
            Account.kind,
            func.count(),
            func.coalesce(func.sum(Account.debits_posted), 0),
            func.coalesce(func.sum(Account.credits_posted), 0),
            func.coalesce(func.sum(Account.debits_pending), 0),
            func.coalesce(func.sum(Account.credits_pending), 0),
        )
        .group_by(Account.kind)
        .order_by(Account.kind)
    )
    rows = [
        TrialBalanceRow(
            kind=AccountKind(kind),
            accounts=int(count),
            debits_posted=Fen(int(dp)),
            credits_posted=Fen(int(cp)),
            debits_pending=Fen(int(dpe)),
            credits_pending=Fen(int(cpe)),
        )
        for kind, count, dp, cp, dpe, cpe in session.execute(query)
    ]
    return TrialBalance(
        rows=rows,
        debits_posted=Fen(sum(r.debits_posted for r in rows)),
        credits_posted=Fen(sum(r.credits_posted for r in rows)),
        debits_pending=Fen(sum(r.debits_pending for r in rows)),
        credits_pending=Fen(sum(r.credits_pending for r in rows)),
    )


def verify(session: Session) -> list[str]:
    """Replay the whole history and list every account whose counters disagree with it.

    An empty list means: every transfer is reflected in both of its accounts exactly once.
    """
    resolved = aliased(Transfer)
    open_hold = and_(
        Transfer.kind == TransferKind.PENDING,
        ~exists().where(resolved.pending_id == Transfer.id),
    )
    expected: dict[int, list[int]] = {}
    for label, condition in (("posted", Transfer.kind.in_(POSTING_KINDS)), ("pending", open_hold)):
        offset = 0 if label == "posted" else 2
        for side, column in enumerate((Transfer.debit_account_id, Transfer.credit_account_id)):
            query = select(column, func.sum(Transfer.amount)).where(condition).group_by(column)
            for account_id, total in session.execute(query):
                expected.setdefault(int(account_id), [0, 0, 0, 0])[offset + side] = int(total)
    problems: list[str] = []
    columns = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
    for row in session.execute(
        select(
            Account.id,
            Account.code,
            Account.debits_posted,
            Account.credits_posted,
            Account.debits_pending,
            Account.credits_pending,
        )
    ):
        stored = [int(row[2]), int(row[3]), int(row[4]), int(row[5])]
        replayed = expected.pop(int(row[0]), [0, 0, 0, 0])
        for name, have, want in zip(columns, stored, replayed, strict=True):
            if have != want:
                problems.append(f"{row[1]}: {name} is {have}, history says {want}")
    problems.extend(f"transfers name unknown account {a}" for a in expected)
    return problems


# --------------------------------------------------------------------------- posting internals


@dataclass(slots=True)
class _Counters:
    """A locked account row, updated in memory while a posting is checked."""

    id: int
    code: str
    dmnec: bool
    cmned: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    start: tuple[int, int, int, int] = (0, 0, 0, 0)

    @classmethod
    def of_row(cls, row: Any) -> _Counters:
        """From (id, code, the two flags, the four counters) as the lock queries read them."""
        counters = cls(
            id=int(row[0]),
            code=str(row[1]),
            dmnec=bool(row[2]),
            cmned=bool(row[3]),
            debits_posted=int(row[4]),
            credits_posted=int(row[5]),
            debits_pending=int(row[6]),
            credits_pending=int(row[7]),
        )
        counters.start = counters.snapshot()
        return counters

    def snapshot(self) -> tuple[int, int, int, int]:
        return (self.debits_posted, self.credits_posted, self.debits_pending, self.credits_pending)

    def refuse_debit(self, amount: int) -> InsufficientFunds | None:
        if self.dmnec and self.debits_posted + self.debits_pending + amount > self.credits_posted:
            have = self.credits_posted - self.debits_posted - self.debits_pending
            return InsufficientFunds(
                f"account {self.code} has {format_yuan(have)} yuan available, "
                f"{format_yuan(amount)} needed; top it up or post a smaller amount",
                account=self.code,
                available=have,
                needed=amount,
            )
        return None

    def refuse_credit(self, amount: int) -> InsufficientFunds | None:
        if self.cmned and self.credits_posted + self.credits_pending + amount > self.debits_posted:
            have = self.debits_posted - self.credits_posted - self.credits_pending
            return InsufficientFunds(
                f"account {self.code} may take {format_yuan(have)} yuan more credit, "
                f"{format_yuan(amount)} asked; fund its debit side first",
                account=self.code,
                available=have,
                needed=amount,
            )
        return None


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# What ``_Counters.of_row`` reads of a locked account.
_COUNTER_COLUMNS = (
    _ACCOUNTS.c.id,
    _ACCOUNTS.c.code,
    _ACCOUNTS.c.debits_must_not_exceed_credits,
    _ACCOUNTS.c.credits_must_not_exceed_debits,
    _ACCOUNTS.c.debits_posted,
    _ACCOUNTS.c.credits_posted,
    _ACCOUNTS.c.debits_pending,
    _ACCOUNTS.c.credits_pending,
)


def _lock_accounts(session: Session, ids: Iterable[int]) -> dict[int, _Counters]:
    """Lock the rows in ascending id order (deadlock-free) and read their counters."""
    wanted = sorted(set(ids))
    locked: dict[int, _Counters] = {}
    for condition in db.one_of(session, _ACCOUNTS.c.id, wanted):
        query = (
            select(*_COUNTER_COLUMNS).where(condition).order_by(_ACCOUNTS.c.id).with_for_update()
        )
        for row in session.execute(query):
            counters = _Counters.of_row(row)
            locked[counters.id] = counters
    return locked


# Built once, for the single postings (compiled and cached by SQLAlchemy on first use).
# (Two parameters, not an expanding list: that is rendered into the text anew each time.)
_LOCK_PAIR = (
    select(*_COUNTER_COLUMNS)
    .where(_ACCOUNTS.c.id.in_([bindparam("first"), bindparam("second")]))
    .order_by(_ACCOUNTS.c.id)
    .with_for_update()
)
_INSERT_TRANSFER = insert(_TRANSFERS)
_KEY_TAKEN = select(_TRANSFERS.c.id).where(_TRANSFERS.c.idempotency_key == bindparam("key"))
_ADD_TO_COUNTERS = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("b_id"))
    .values(
        debits_posted=_ACCOUNTS.c.debits_posted + bindparam("b_dp"),
        credits_posted=_ACCOUNTS.c.credits_posted + bindparam("b_cp"),
        debits_pending=_ACCOUNTS.c.debits_pending + bindparam("b_dpe"),
        credits_pending=_ACCOUNTS.c.credits_pending + bindparam("b_cpe"),
    )
)


def _lock_pair(session: Session, first: int, second: int) -> dict[int, _Counters]:
    """``_lock_accounts`` of a posting's two accounts, with a statement built once."""
    locked: dict[int, _Counters] = {}
    for row in session.execute(_LOCK_PAIR, {"first": first, "second": second}):
        counters = _Counters.of_row(row)
        locked[counters.id] = counters
    return locked


def _write_counters(session: Session, accounts: Iterable[_Counters]) -> None:
    """Add each account's net change to its stored counters (one executemany)."""
    params = []
    for acc in accounts:
        now = acc.snapshot()
        delta = [n - s for n, s in zip(now, acc.start, strict=True)]
        if any(delta):
            params.append(
                {
                    "b_id": acc.id,
                    "b_dp": delta[0],
                    "b_cp": delta[1],
                    "b_dpe": delta[2],
                    "b_cpe": delta[3],
                }
            )
            acc.start = now
    if not params:
        return
    # Increments, not absolute values: correct even if a caller bypassed the lock by mistake.
    if _is_postgresql(session) and len(params) > 1:
        # One statement for the whole batch instead of one UPDATE per account.
        session.execute(
            text(
                "UPDATE ledger_account AS a SET "
                "debits_posted = a.debits_posted + v.dp, "
                "credits_posted = a.credits_posted + v.cp, "
                "debits_pending = a.debits_pending + v.dpe, "
                "credits_pending = a.credits_pending + v.cpe "
                "FROM unnest(CAST(:ids AS integer[]), CAST(:dp AS bigint[]), "
                "CAST(:cp AS bigint[]), CAST(:dpe AS bigint[]), CAST(:cpe AS bigint[])) "
                "AS v(id, dp, cp, dpe, cpe) WHERE a.id = v.id"
            ),
            {
                "ids": [p["b_id"] for p in params],
                "dp": [p["b_dp"] for p in params],
                "cp": [p["b_cp"] for p in params],
                "dpe": [p["b_dpe"] for p in params],
                "cpe": [p["b_cpe"] for p in params],
            },
        )
        _expire_accounts(session)
        return
    session.execute(_ADD_TO_COUNTERS, params)
    _expire_accounts(session)


def _expire_accounts(session: Session) -> None:
    # ORM copies of the accounts are now stale; the next read refreshes them.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Account):
            session.expire(obj)


def _apply(debit: _Counters, credit: _Counters, kind: TransferKind, amount: int) -> None:
    if kind is TransferKind.PENDING:
        debit.debits_pending += amount
        credit.credits_pending += amount
    else:
        debit.debits_posted += amount
        credit.credits_posted += amount


def _check_request(request: TransferRequest) -> None:
    key = request.idempotency_key
    if not key or len(key) > 128:
        raise InvalidInput("an idempotency key is 1–128 characters", field="idempotency_key")
    if isinstance(request.amount, bool) or not isinstance(request.amount, int):
        raise InvalidInput("amount is an integer number of fen", field="amount")
    if request.amount <= 0:
        raise InvalidInput(
            f"amount must be positive, got {request.amount} fen; reverse a transfer instead "
            "of posting a negative one",
            field="amount",
        )
    if request.debit_account_id == request.credit_account_id:
        raise InvalidInput("a transfer needs two different accounts", field="credit_account_id")
    if request.timeout is not None:
        if not request.pending:
            raise InvalidInput("only a hold (pending transfer) can time out", field="timeout")
        if request.timeout <= dt.timedelta(0):
            raise InvalidInput("a hold's timeout must be positive", field="timeout")


def _content(
    kind: TransferKind,
    debit: int,
    credit: int,
    amount: int,
    code: int,
    pending_id: int | None,
    reverses_id: int | None,
) -> tuple[str, int, int, int, int, int | None, int | None]:
    return (str(kind), debit, credit, amount, code, pending_id, reverses_id)


def _content_of(transfer: Transfer) -> tuple[str, int, int, int, int, int | None, int | None]:
    return _content(
        transfer.kind,
        transfer.debit_account_id,
        transfer.credit_account_id,
        transfer.amount,
        transfer.code,
        transfer.pending_id,
        transfer.reverses_id,
    )


def _replay(
    session: Session,
    key: str,
    content: tuple[str, int, int, int, int, int | None, int | None],
) -> Transfer | None:
    """The earlier transfer under ``key`` if its content matches; Conflict if it does not."""
    if session.execute(_KEY_TAKEN, {"key": key}).first() is None:
        return None  # the usual case, answered without building an ORM query
    earlier = session.scalar(select(Transfer).where(Transfer.idempotency_key == key))
    if earlier is None:
        return None
    if _content_of(earlier) != content:
        raise Conflict(
            f"idempotency key {key!r} was already used for transfer {earlier.id} with different "
            "content; use a new key for a new transfer",
            transfer_id=earlier.id,
        )
    return earlier


def _unknown(ids: Iterable[int], locked: Mapping[int, _Counters]) -> None:
    for account_id in ids:
        if account_id not in locked:
            raise NotFound(f"no ledger account with id {account_id}", account_id=account_id)


def _insert(session: Session, transfer: Transfer) -> Transfer:
    session.add(transfer)
    try:
        session.flush()
    except IntegrityError as exc:
        # Only reachable when a concurrent transaction took the same key, hold or reversal for
        # different accounts; this transaction is unusable and must be rolled back.
        raise Conflict(
            f"transfer {transfer.idempotency_key!r} collides with one posted concurrently "
            "(same key, hold or reversal); read it back and retry with a new key if needed"
        ) from exc
    return transfer


def _insert_posting(session: Session, **values: Any) -> Transfer:
    """``_insert`` of a new posting given every column: one INSERT, without a unit-of-work flush.

    The returned Transfer is attached to the session as if it had been read back."""
    try:
        params = {("metadata" if name == "meta" else name): value for name, value in values.items()}
        result = cast(CursorResult[Any], session.execute(_INSERT_TRANSFER, params))
    except IntegrityError as exc:
        raise Conflict(
            f"transfer {values['idempotency_key']!r} collides with one posted concurrently "
            "(same key, hold or reversal); read it back and retry with a new key if needed"
        ) from exc
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT
    transfer = Transfer(id=int(key[0]), **values)
    make_transient_to_detached(transfer)
    session.add(transfer)
    return transfer


# --------------------------------------------------------------------------- single postings


def post_transfer(
    session: Session,
    request: TransferRequest,
    *,
    linked_id: str | None = None,
    reverses_id: int | None = None,
) -> Transfer:
    """Post one transfer (or place a hold when ``request.pending``), idempotently.

    Raises InvalidInput (bad amount, same account twice), NotFound (unknown account),
    InsufficientFunds (a limit flag would be broken) or Conflict (key reused differently).
    Nothing is written when it raises.
    """
    _check_request(request)
    kind = TransferKind.PENDING if request.pending else TransferKind.POSTED
    content = _content(
        kind,
        request.debit_account_id,
        request.credit_account_id,
        request.amount,
        request.code,
        None,
        reverses_id,
    )
    locked = _lock_pair(session, request.debit_account_id, request.credit_account_id)
    _unknown((request.debit_account_id, request.credit_account_id), locked)
    earlier = _replay(session, request.idempotency_key, content)
    if earlier is not None:
        return earlier
    debit, credit = locked[request.debit_account_id], locked[request.credit_account_id]
    refusal = debit.refuse_debit(request.amount) or credit.refuse_credit(request.amount)
    if refusal is not None:
        raise refusal
    now = clock.now()
    transfer = _insert_posting(
        session,
        idempotency_key=request.idempotency_key,
        kind=kind,
        debit_account_id=request.debit_account_id,
        credit_account_id=request.credit_account_id,
        amount=request.amount,
        code=request.code,
        pending_id=None,
        expires_at=now + request.timeout if request.timeout is not None else None,
        linked_id=linked_id,
        reverses_id=reverses_id,
        meta=dict(request.metadata or {}),
        created_at=now,
    )
    _apply(debit, credit, kind, request.amount)
    _write_counters(session, (debit, credit))
    return transfer


def get_transfer(session: Session, transfer_id: int) -> Transfer:
    transfer = session.get(Transfer, transfer_id)
    if transfer is None:
        raise NotFound(f"no transfer with id {transfer_id}", transfer_id=transfer_id)
    return transfer


def get_transfer_by_key(session: Session, idempotency_key: str) -> Transfer | None:
    return session.scalar(select(Transfer).where(Transfer.idempotency_key == idempotency_key))


def post_linked(session: Session, requests: Sequence[TransferRequest]) -> list[Transfer]:
    """Post several transfers that all succeed or none does (one savepoint), sharing a link id.

    Replaying the whole group with the same keys returns the original transfers.
    """
    if not requests:
        raise InvalidInput("a linked group needs at least one transfer", field="transfers")
    keys = [r.idempotency_key for r in requests]
    if len(set(keys)) != len(keys):
        raise InvalidInput("each transfer of a linked group needs its own key", field="transfers")
    for request in requests:
        _check_request(request)
    linked_id = str(uuid.uuid4())
    with session.begin_nested():
        return [post_transfer(session, r, linked_id=linked_id) for r in requests]


def _resolve(
    session: Session,
    pending_id: int,
    *,
    idempotency_key: str,
    kind: TransferKind,
    amount: int | None,
    now: dt.datetime,
    metadata: Mapping[str, Any] | None = None,
) -> Transfer:
    """Post, void or expire hold ``pending_id``; all of its reservation is released."""
    if not idempotency_key or len(idempotency_key) > 128:
        raise InvalidInput("an idempotency key is 1–128 characters", field="idempotency_key")
    hold = get_transfer(session, pending_id)
    if hold.kind is not TransferKind.PENDING:
        raise Conflict(f"transfer {pending_id} is {hold.kind}, not a hold", transfer_id=pending_id)
    posted = hold.amount if amount is None else amount
    if kind is TransferKind.POSTED_FROM_PENDING:
        if isinstance(posted, bool) or not isinstance(posted, int) or posted <= 0:
            raise InvalidInput(
                "the amount to post must be positive; void the hold instead", field="amount"
            )
        if posted > hold.amount:
            raise InvalidInput(
                f"cannot post {format_yuan(posted)} yuan from a hold of {format_yuan(hold.amount)}",
                field="amount",
            )
    else:
        posted = hold.amount
    content = _content(
        kind, hold.debit_account_id, hold.credit_account_id, posted, hold.code, hold.id, None
    )
    locked = _lock_accounts(session, (hold.debit_account_id, hold.credit_account_id))
    earlier = _replay(session, idempotency_key, content)
    if earlier is not None:
        return earlier
    resolution = session.scalar(select(Transfer).where(Transfer.pending_id == hold.id))
    if resolution is not None:
        raise HoldNotOpen(
            f"hold {hold.id} was already {resolution.kind} by transfer {resolution.id}",
            transfer_id=resolution.id,
        )
    if kind is not TransferKind.EXPIRED and hold.expires_at is not None and hold.expires_at <= now:
        raise HoldNotOpen(
            f"hold {hold.id} expired at {hold.expires_at.isoformat()}; place a new hold",
            transfer_id=hold.id,
        )
    debit, credit = locked[hold.debit_account_id], locked[hold.credit_account_id]
    transfer = _insert(
        session,
        Transfer(
            idempotency_key=idempotency_key,
            kind=kind,
            debit_account_id=hold.debit_account_id,
            credit_account_id=hold.credit_account_id,
            amount=posted,
            code=hold.code,
            pending_id=hold.id,
            linked_id=None,
            meta=dict(metadata or {}),
            created_at=now,
        ),
    )
    debit.debits_pending -= hold.amount
    credit.credits_pending -= hold.amount
    if kind is TransferKind.POSTED_FROM_PENDING:
        debit.debits_posted += posted
        credit.credits_posted += posted
    _write_counters(session, (debit, credit))
    return transfer


def post_pending(
    session: Session,
    pending_id: int,
    *,
    idempotency_key: str,
    amount: int | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Transfer:
    """Post a hold in full, or ``amount`` fen of it; the remainder is released."""
    return _resolve(
        session,
        pending_id,
        idempotency_key=idempotency_key,
        kind=TransferKind.POSTED_FROM_PENDING,
        amount=amount,
        now=clock.now(),
        metadata=metadata,
    )


def void_pending(
    session: Session,
    pending_id: int,
    *,
    idempotency_key: str,
    metadata: Mapping[str, Any] | None = None,
) -> Transfer:
    """Release a hold without posting anything."""
    return _resolve(
        session,
        pending_id,
        idempotency_key=idempotency_key,
        kind=TransferKind.VOIDED,
        amount=None,
        now=clock.now(),
        metadata=metadata,
    )


def hold_state(session: Session, pending_id: int) -> TransferKind:
    """``pending`` while a hold is open, else the kind of its resolution."""
    hold = get_transfer(session, pending_id)
    if hold.kind is not TransferKind.PENDING:
        raise Conflict(f"transfer {pending_id} is {hold.kind}, not a hold", transfer_id=pending_id)
    resolution = session.scalar(select(Transfer.kind).where(Transfer.pending_id == pending_id))
    return TransferKind.PENDING if resolution is None else TransferKind(resolution)


def expire_pending(session: Session, now: dt.datetime | None = None, *, limit: int = 10_000) -> int:
    """Release every open hold whose timeout has passed; returns how many were released."""
    at = now or clock.now()
    resolved = aliased(Transfer)
    stale = list(
        session.scalars(
            select(Transfer.id)
            .where(
                Transfer.kind == TransferKind.PENDING,
                Transfer.expires_at.is_not(None),
                Transfer.expires_at <= at,
                ~exists().where(resolved.pending_id == Transfer.id),
            )
            .order_by(Transfer.id)
            .limit(limit)
        )
    )
    count = 0
    for pending_id in stale:
        try:
            _resolve(
                session,
                pending_id,
                idempotency_key=f"expire:{pending_id}",
                kind=TransferKind.EXPIRED,
                amount=None,
                now=at,
            )
        except HoldNotOpen:
            # Posted or voided concurrently since the scan: nothing left to release.
            continue
        count += 1
    return count


def reverse_transfer(
    session: Session,
    transfer_id: int,
    *,
    idempotency_key: str,
    reason: str,
    amount: int | None = None,
) -> Transfer:
    """Post the compensating transfer (冲正) of a posted transfer; the original stays as it was.

    ``amount``: what is left to give back, where part of the original already went back by
    other transfers (a ride's fare adjustments); the whole amount by default.
    """
    if not reason.strip():
        raise InvalidInput("say why the transfer is reversed", field="reason")
    original = get_transfer(session, transfer_id)
    if amount is not None and not 0 < amount <= original.amount:
        raise InvalidInput(
            f"a reversal gives back between 1 and {original.amount} fen of transfer "
            f"{transfer_id}, not {amount}",
            field="amount",
        )
    if original.kind not in POSTING_KINDS:
        raise Conflict(
            f"transfer {transfer_id} is {original.kind}; only posted transfers are reversed "
            "(void a hold instead)",
            transfer_id=transfer_id,
        )
    if original.reverses_id is not None:
        raise Conflict(
            f"transfer {transfer_id} is itself a reversal; post a new transfer instead",
            transfer_id=transfer_id,
        )
    request = TransferRequest(
        idempotency_key=idempotency_key,
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        amount=original.amount if amount is None else amount,
        code=original.code,
        metadata={"reverses": original.id, "reason": reason.strip()[:200]},
    )
    existing = session.scalar(select(Transfer).where(Transfer.reverses_id == original.id))
    if existing is not None and existing.idempotency_key != idempotency_key:
        raise Conflict(
            f"transfer {transfer_id} was already reversed by transfer {existing.id}",
            transfer_id=existing.id,
        )
    return post_transfer(session, request, reverses_id=original.id)


# --------------------------------------------------------------------------- bulk path


def _reject(request: TransferRequest, error: Exception) -> BatchOutcome:
    slug = getattr(error, "slug", "invalid-input")
    return BatchOutcome(
        request.idempotency_key, BatchStatus.REJECTED, reason=str(error), error=slug
    )


def _highest_transfer_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Transfer.id), 0))) or 0)


def _allocate_ids(session: Session, count: int) -> list[int] | None:
    """``count`` new transfer ids, ascending, or ``None`` where the backend cannot hand them out.

    PostgreSQL draws them from the table's own sequence. On SQLite this transaction holds the
    database's write lock (``BEGIN IMMEDIATE``), so the ids after the current maximum are free
    until it commits; a collision would still be refused by the primary key.
    """
    if count == 0:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        drawn = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('ledger_transfer', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(int(row[0]) for row in drawn)
    if dialect == "sqlite":
        top = _highest_transfer_id(session)
        return list(range(top + 1, top + 1 + count))
    return None


_COPY_COLUMNS = (
    "id",
    "idempotency_key",
    "kind",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "code",
    "pending_id",
    "expires_at",
    "linked_id",
    "reverses_id",
    "metadata",
    "created_at",
)


# What the bulk path inserts per transfer; a batch never resolves, links or reverses.
_BatchRow = tuple[str, TransferKind, int, int, int, int, dt.datetime | None, str | None]


def _bulk_insert(session: Session, rows: list[_BatchRow], now: dt.datetime) -> list[int]:
    """Insert transfer rows in as few round trips as the backend allows; their ids in order.

    A row is (key, kind, debit, credit, amount, code, expires_at, metadata JSON text), all
    created at ``now``. With ids allocated up front no ``RETURNING`` is needed: PostgreSQL takes
    the rows by ``COPY``, SQLite by one ``executemany``. Other backends insert with
    ``RETURNING``.
    """
    ids = _allocate_ids(session, len(rows))
    if ids is None:
        returned: list[int] = []
        for start in range(0, len(rows), _CHUNK):
            result = session.execute(
                insert(_TRANSFERS).returning(_TRANSFERS.c.id, sort_by_parameter_order=True),
                [
                    {
                        "idempotency_key": key,
                        "kind": kind,
                        "debit_account_id": debit,
                        "credit_account_id": credit,
                        "amount": amount,
                        "code": code,
                        "expires_at": expires_at,
                        "metadata": json.loads(meta) if meta is not None else {},
                        "created_at": now,
                    }
                    for key, kind, debit, credit, amount, code, expires_at, meta in rows[
                        start : start + _CHUNK
                    ]
                ],
            )
            returned.extend(int(r[0]) for r in result)
        return returned
    if not rows:
        return ids
    # The columns' own conversions, applied once per distinct value: a batch shares its
    # timestamp and its two kinds, and most transfers carry no expiry.
    kind_of = functools.cache(db.bind_converter(session, _TRANSFERS.c.kind))
    expiry_of = functools.cache(db.bind_converter(session, _TRANSFERS.c.expires_at))
    created = db.bind_converter(session, _TRANSFERS.c.created_at)(now)
    values = [
        (
            transfer_id,
            key,
            kind_of(kind),
            debit,
            credit,
            amount,
            code,
            None,
            None if expires_at is None else expiry_of(expires_at),
            None,
            None,
            meta,
            created,
        )
        for (key, kind, debit, credit, amount, code, expires_at, meta), transfer_id in zip(
            rows, ids, strict=True
        )
    ]
    try:
        db.copy_rows(session, "ledger_transfer", _COPY_COLUMNS, values)
    except session.get_bind().dialect.loaded_dbapi.IntegrityError as exc:
        # A concurrent transaction posted one of these keys for other accounts (the key check
        # only waits for transactions that lock the same accounts). Nothing of this batch stays.
        raise Conflict(
            "a transfer of this batch collides with one posted concurrently under the same "
            "key; nothing of the batch was posted, roll back and send it again"
        ) from exc
    return ids


def post_batch(session: Session, requests: Sequence[TransferRequest]) -> list[BatchOutcome]:
    """Post many transfers in the caller's transaction with set-based SQL, one outcome each.

    The same rules as ``post_transfer`` apply to every request (idempotency, limits, two distinct
    accounts, positive amounts); a rejected request does not stop the others. Requests are
    applied in order, so a later one may spend what an earlier one in the batch credited.
    """
    outcomes: list[BatchOutcome | None] = [None] * len(requests)
    now = clock.now()
    candidates: list[int] = []
    for index, request in enumerate(requests):
        try:
            _check_request(request)
        except InvalidInput as error:
            outcomes[index] = _reject(request, error)
        else:
            candidates.append(index)

    locked = _lock_accounts(
        session,
        {
            a
            for i in candidates
            for a in (requests[i].debit_account_id, requests[i].credit_account_id)
        },
    )
    keys = list({requests[i].idempotency_key for i in candidates})
    earlier: dict[str, tuple[int, tuple[str, int, int, int, int, int | None, int | None]]] = {}
    for condition in db.one_of(session, Transfer.idempotency_key, keys):
        query = select(
            Transfer.idempotency_key,
            Transfer.id,
            Transfer.kind,
            Transfer.debit_account_id,
            Transfer.credit_account_id,
            Transfer.amount,
            Transfer.code,
            Transfer.pending_id,
            Transfer.reverses_id,
        ).where(condition)
        for row in session.execute(query):
            earlier[row[0]] = (int(row[1]), _content(*row[2:9]))

    rows: list[_BatchRow] = []
    row_index: list[int] = []
    fresh: dict[str, tuple[int, tuple[str, int, int, int, int, int | None, int | None]]] = {}
    for index in candidates:
        request = requests[index]
        kind = TransferKind.PENDING if request.pending else TransferKind.POSTED
        key = request.idempotency_key
        debit_id, credit_id, amount = (
            request.debit_account_id,
            request.credit_account_id,
            request.amount,
        )
        # ``_content`` inlined: this loop runs once per transfer of a million-row batch.
        content = (kind.value, debit_id, credit_id, amount, request.code, None, None)
        seen = earlier.get(key) or fresh.get(key)
        if seen is not None:
            if seen[1] == content:
                transfer_id = seen[0] if seen[0] >= 0 else None
                outcomes[index] = BatchOutcome(key, BatchStatus.DUPLICATE, transfer_id=transfer_id)
            else:
                outcomes[index] = _reject(
                    request,
                    Conflict(f"idempotency key {key!r} was already used with different content"),
                )
            continue
        debit = locked.get(debit_id)
        credit = locked.get(credit_id)
        if debit is None or credit is None:
            missing = debit_id if debit is None else credit_id
            outcomes[index] = _reject(request, NotFound(f"no ledger account with id {missing}"))
            continue
        refusal = debit.refuse_debit(amount) or credit.refuse_credit(amount)
        if refusal is not None:
            outcomes[index] = _reject(request, refusal)
            continue
        _apply(debit, credit, kind, amount)
        # Index into ``rows`` encoded as a negative id until the insert returns the real one.
        fresh[key] = (-1 - len(rows), content)
        row_index.append(index)
        rows.append(
            (
                key,
                kind,
                debit_id,
                credit_id,
                amount,
                request.code,
                None if request.timeout is None else now + request.timeout,
                # What SQLAlchemy's JSON type stores; text, so that COPY takes it too.
                "{}" if not request.metadata else db.json_text(dict(request.metadata)),
            )
        )

    ids = _bulk_insert(session, rows, now)
    _write_counters(session, locked.values())

    for position, index in enumerate(row_index):
        outcomes[index] = BatchOutcome(
            requests[index].idempotency_key, BatchStatus.POSTED, transfer_id=ids[position]
        )
    # Duplicates inside the batch point at the transfer their first occurrence created.
    final: list[BatchOutcome] = []
    for outcome in outcomes:
        assert outcome is not None
        if outcome.status is BatchStatus.DUPLICATE and outcome.transfer_id is None:
            first = fresh[outcome.idempotency_key][0]
            outcome = BatchOutcome(
                outcome.idempotency_key, BatchStatus.DUPLICATE, transfer_id=ids[-1 - first]
            )
        final.append(outcome)
    return final


@dataclass(frozen=True, slots=True)
class Fanout:
    """What ``post_fanout`` posted: so many transfers, this much in all."""

    count: int
    total: Fen
    # With ``order_by`` on SQLite: the transfers hold the ids first_id … first_id + count − 1,
    # in that column's order. ``None`` where the backend draws ids from a shared sequence.
    first_id: int | None = None


_FANOUT_COLUMNS = ("idempotency_key", "amount")


def post_fanout(
    session: Session,
    rows: Select[*tuple[Any, ...]],
    *,
    debit_account_id: int,
    credit_account_id: int,
    code: int = 0,
    order_by: str | None = None,
) -> Fanout:
    """One posted transfer per row of ``rows``, every one from the same debit account to the
    same credit account, written by one ``INSERT … SELECT`` in the caller's transaction (a
    batch approval: each payment line from the budget to payable, without a Python object or a
    parameter per line).

    ``rows`` labels two columns ``idempotency_key`` and ``amount`` (an integer column, fen);
    every other column becomes an entry of the transfer's metadata under its label.

    The rules of ``post_transfer`` hold: keys of 1–128 characters, positive amounts, two
    distinct accounts that exist, limit flags. The flags are checked against the total, which
    is exact here: every amount moves the same way, so no balance on the way is lower than the
    final one. Unlike ``post_batch`` it is all or nothing and does not answer duplicates: a key
    already used, or used twice in ``rows``, refuses the whole fan-out with Conflict. The
    caller's own state (a batch approved once, under lock) is what makes it happen once.
    When it refuses, nothing has been written.

    ``order_by`` names a column of ``rows`` (distinct values) to insert the transfers by: on
    SQLite, which holds the write lock for this transaction and gives each new row the id
    after the highest, the answer's ``first_id`` then tells the caller which transfer each row
    became (first_id, first_id + 1, … in that order) without looking a key up per row.
    """
    source = rows.subquery()
    names = [column.name for column in source.c]
    missing = [name for name in _FANOUT_COLUMNS if name not in names]
    if missing:
        raise ValueError(f"post_fanout needs columns labelled {', '.join(missing)}")
    if not isinstance(source.c.amount.type, Integer):
        raise ValueError("post_fanout amounts are an integer column of fen")
    if order_by is not None and order_by not in names:
        raise ValueError(f"post_fanout cannot order by {order_by!r}, not a column of rows")
    if debit_account_id == credit_account_id:
        raise InvalidInput("a transfer needs two different accounts", field="credit_account_id")
    locked = _lock_accounts(session, (debit_account_id, credit_account_id))
    for account_id in (debit_account_id, credit_account_id):
        if account_id not in locked:
            raise NotFound(f"no ledger account with id {account_id}")
    debit, credit = locked[debit_account_id], locked[credit_account_id]
    sqlite = session.get_bind().dialect.name == "sqlite"
    # On SQLite this transaction holds the write lock, so the transfers above the current
    # maximum id are this fan-out's own: its rows are checked as written, which costs less
    # than evaluating ``rows`` a second time beforehand. Elsewhere they are checked first.
    top = _highest_transfer_id(session) if sqlite else 0
    if not sqlite:
        count, total = _checked_fanout_rows(session, source.c.idempotency_key, source.c.amount)
        if not count:
            return Fanout(0, Fen(0))
        _refuse_fanout_total(debit, credit, total)
    extra = [column for column in source.c if column.name not in _FANOUT_COLUMNS]
    pairs = [part for column in extra for part in (cast_(literal(column.name), String), column)]
    json_object = func.json_object if sqlite else func.json_build_object
    values = select(
        source.c.idempotency_key,
        literal(TransferKind.POSTED, type_=_TRANSFERS.c.kind.type),
        literal(debit_account_id),
        literal(credit_account_id),
        source.c.amount,
        literal(code),
        json_object(*pairs),
        literal(clock.now(), type_=_TRANSFERS.c.created_at.type),
    )
    if order_by is not None:
        # SQLite inserts the rows in this order, each with the id after the highest.
        values = values.order_by(source.c[order_by])
    columns = [
        "idempotency_key",
        "kind",
        "debit_account_id",
        "credit_account_id",
        "amount",
        "code",
        "metadata",
        "created_at",
    ]
    try:
        with session.begin_nested():
            session.execute(insert(_TRANSFERS).from_select(columns, values))
            if sqlite:
                written = _TRANSFERS.c.id > top
                count, total = _checked_fanout_rows(
                    session, _TRANSFERS.c.idempotency_key, _TRANSFERS.c.amount, written
                )
                # A refusal here leaves the savepoint and takes the rows with it.
                _refuse_fanout_total(debit, credit, total)
    except IntegrityError:
        if sqlite:
            # A missing or non-positive amount breaks the table's own constraints first:
            # say which row was wrong rather than blaming a key.
            _checked_fanout_rows(session, source.c.idempotency_key, source.c.amount)
        raise Conflict(
            "a transfer of this fan-out uses an idempotency key that is already taken (or twice); "
            "nothing was posted"
        ) from None
    if not count:
        return Fanout(0, Fen(0))
    first_id: int | None = None
    if sqlite and order_by is not None:
        first_id = top + 1 if _highest_transfer_id(session) == top + count else None
    if count >= db.ANALYZE_ROWS:
        db.analyze(session, _TRANSFERS.name)
    _apply(debit, credit, TransferKind.POSTED, int(total))
    _write_counters(session, locked.values())
    return Fanout(int(count), Fen(int(total)), first_id)


def _checked_fanout_rows(
    session: Session,
    key: ColumnElement[Any],
    amount: ColumnElement[Any],
    where: ColumnElement[bool] | None = None,
) -> tuple[int, int]:
    """(count, total) of a fan-out's rows; InvalidInput for a key that is not 1–128
    characters or an amount that is not a positive number of fen."""
    key_length = func.length(key)
    query = select(
        func.count(),
        func.coalesce(func.sum(amount), 0),
        func.min(amount),
        func.count(key),
        func.count(amount),
        func.min(key_length),
        func.max(key_length),
    )
    if where is not None:
        query = query.where(where)
    count, total, smallest, keys, amounts, shortest, longest = session.execute(query).one()
    if not count:
        return 0, 0
    if keys != count or shortest < 1 or longest > 128:
        raise InvalidInput("an idempotency key is 1–128 characters", field="idempotency_key")
    if amounts != count or smallest <= 0:
        raise InvalidInput(
            f"every amount must be a positive number of fen, the smallest is {smallest}",
            field="amount",
        )
    return int(count), int(total)


def _refuse_fanout_total(debit: _Counters, credit: _Counters, total: int) -> None:
    """The limit flags, checked against a fan-out's total: exact, since every amount moves the
    same way and no balance on the way is lower than the final one."""
    refusal = debit.refuse_debit(total) or credit.refuse_credit(total)
    if refusal is not None:
        raise refusal


def transfers_total(session: Session, transfer_ids: Select[*tuple[Any, ...]]) -> Fen:
    """The sum in fen of the transfers whose ids a query selects (its first column), in one
    statement: a business table checks what the ledger moved for its rows without loading one."""
    chosen = transfer_ids.subquery()
    total = session.scalar(
        select(func.coalesce(func.sum(_TRANSFERS.c.amount), 0)).where(
            _TRANSFERS.c.id.in_(select(next(iter(chosen.c))))
        )
    )
    return Fen(int(total or 0))


def transfer_id_by_key(key: ColumnElement[str]) -> ScalarSelect[int]:
    """The id of the transfer posted under ``key``, as an SQL expression for the caller's own
    set-based statements (e.g. linking each line of a fan-out to its transfer)."""
    return select(_TRANSFERS.c.id).where(_TRANSFERS.c.idempotency_key == key).scalar_subquery()


__all__ = [
    "RESOLVING_KINDS",
    "AccountKind",
    "BatchOutcome",
    "BatchStatus",
    "Fanout",
    "HoldNotOpen",
    "InsufficientFunds",
    "Statement",
    "StatementLine",
    "TransferKind",
    "TransferRequest",
    "TrialBalance",
    "TrialBalanceRow",
    "available",
    "balance",
    "balance_at",
    "existing_account_id",
    "existing_account_ids",
    "expire_pending",
    "get_account",
    "get_account_by_code",
    "get_transfer",
    "get_transfer_by_key",
    "hold_state",
    "list_accounts",
    "open_account",
    "post_batch",
    "post_fanout",
    "post_linked",
    "post_pending",
    "post_transfer",
    "reverse_transfer",
    "statement",
    "transfer_id_by_key",
    "transfers_total",
    "trial_balance",
    "verify",
]
