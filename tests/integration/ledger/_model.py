"""A reference model of the ledger's rules, written independently of ``ledger.service``.

The property tests run random operations against the real ledger and against this model and
compare every outcome (which error, or which transfer) and every account's counters. The model
keeps its whole history, so balances at any instant are replayed from it, not from the database.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field

from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound
from yikatong.ledger.models import NO_OVERDRAFT_KINDS, AccountKind, NormalSide
from yikatong.ledger.service import HoldNotOpen, InsufficientFunds

POSTING = ("posted", "posted_from_pending")

Content = tuple[str, int, int, int, int, int | None, int | None]


@dataclass
class MAccount:
    id: int
    kind: AccountKind
    dmnec: bool
    cmned: bool
    counters: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # dp, cp, dpe, cpe


@dataclass
class MTransfer:
    key: str
    kind: str
    debit: int
    credit: int
    amount: int
    code: int
    pending_id: int | None
    reverses_id: int | None
    at: dt.datetime
    expires_at: dt.datetime | None
    id: int = -1  # the real id, filled in once the database has answered

    @property
    def content(self) -> Content:
        return (
            self.kind,
            self.debit,
            self.credit,
            self.amount,
            self.code,
            self.pending_id,
            self.reverses_id,
        )


@dataclass(frozen=True)
class MRequest:
    key: str
    debit: int
    credit: int
    amount: int
    code: int = 0
    pending: bool = False
    timeout: dt.timedelta | None = None


Outcome = MTransfer | type[DomainError]


@dataclass
class Model:
    accounts: dict[int, MAccount] = field(default_factory=dict)
    by_key: dict[str, MTransfer] = field(default_factory=dict)
    history: list[MTransfer] = field(default_factory=list)

    def snapshot(self) -> Model:
        return copy.deepcopy(self)

    def by_id(self, transfer_id: int) -> MTransfer | None:
        return next((t for t in self.history if t.id == transfer_id), None)

    def open(self, account_id: int, kind: AccountKind, cmned: bool) -> MAccount:
        dmnec = kind in NO_OVERDRAFT_KINDS and not cmned
        self.accounts[account_id] = MAccount(account_id, kind, dmnec, cmned)
        return self.accounts[account_id]

    # ------------------------------------------------------------------ rules

    @staticmethod
    def _invalid(request: MRequest) -> bool:
        return (
            request.amount <= 0
            or request.debit == request.credit
            or (request.timeout is not None and not request.pending)
        )

    def _refused(self, debit: MAccount, credit: MAccount, amount: int) -> bool:
        dp, cp, dpe, _ = debit.counters
        if debit.dmnec and dp + dpe + amount > cp:
            return True
        dp, cp, _, cpe = credit.counters
        return credit.cmned and cp + cpe + amount > dp

    def transfer(
        self,
        request: MRequest,
        now: dt.datetime,
        *,
        reverses_id: int | None = None,
        batch: bool = False,
    ) -> Outcome:
        """``post_transfer`` (or one request of ``post_batch`` when ``batch``)."""
        if self._invalid(request):
            return InvalidInput
        kind = "pending" if request.pending else "posted"
        content = (
            kind,
            request.debit,
            request.credit,
            request.amount,
            request.code,
            None,
            reverses_id,
        )
        unknown = request.debit not in self.accounts or request.credit not in self.accounts
        if unknown and not batch:
            return NotFound
        earlier = self.by_key.get(request.key)
        if earlier is not None:
            return earlier if earlier.content == content else Conflict
        if unknown:
            return NotFound
        debit, credit = self.accounts[request.debit], self.accounts[request.credit]
        if self._refused(debit, credit, request.amount):
            return InsufficientFunds
        expires = now + request.timeout if request.timeout is not None else None
        transfer = MTransfer(request.key, kind, *content[1:5], None, reverses_id, now, expires)
        self._record(transfer)
        return transfer

    def _record(self, transfer: MTransfer) -> None:
        self.by_key[transfer.key] = transfer
        self.history.append(transfer)
        debit, credit = self.accounts[transfer.debit], self.accounts[transfer.credit]
        if transfer.kind == "pending":
            debit.counters[2] += transfer.amount
            credit.counters[3] += transfer.amount
        elif transfer.pending_id is not None:
            hold = self.by_id(transfer.pending_id)
            assert hold is not None
            debit.counters[2] -= hold.amount
            credit.counters[3] -= hold.amount
            if transfer.kind == "posted_from_pending":
                debit.counters[0] += transfer.amount
                credit.counters[1] += transfer.amount
        else:
            debit.counters[0] += transfer.amount
            credit.counters[1] += transfer.amount

    def resolution_of(self, hold_id: int) -> MTransfer | None:
        return next((t for t in self.history if t.pending_id == hold_id), None)

    def resolve(
        self, hold_id: int, key: str, kind: str, amount: int | None, now: dt.datetime
    ) -> Outcome:
        """``post_pending`` / ``void_pending`` / one hold of ``expire_pending``."""
        hold = self.by_id(hold_id)
        if hold is None:
            return NotFound
        if hold.kind != "pending":
            return Conflict
        posted = hold.amount if amount is None or kind != "posted_from_pending" else amount
        if kind == "posted_from_pending" and not 0 < posted <= hold.amount:
            return InvalidInput
        content = (kind, hold.debit, hold.credit, posted, hold.code, hold.id, None)
        earlier = self.by_key.get(key)
        if earlier is not None:
            return earlier if earlier.content == content else Conflict
        if self.resolution_of(hold.id) is not None:
            return HoldNotOpen
        if kind != "expired" and hold.expires_at is not None and hold.expires_at <= now:
            return HoldNotOpen
        transfer = MTransfer(key, *content, now, None)
        self._record(transfer)
        return transfer

    def expire(self, now: dt.datetime) -> list[MTransfer]:
        stale = [
            t
            for t in self.history
            if t.kind == "pending"
            and t.expires_at is not None
            and t.expires_at <= now
            and self.resolution_of(t.id) is None
        ]
        done = []
        for hold in sorted(stale, key=lambda t: t.id):
            outcome = self.resolve(hold.id, f"expire:{hold.id}", "expired", None, now)
            assert isinstance(outcome, MTransfer)
            done.append(outcome)
        return done

    def reverse(self, transfer_id: int, key: str, now: dt.datetime) -> Outcome:
        original = self.by_id(transfer_id)
        if original is None:
            return NotFound
        if original.kind not in POSTING or original.reverses_id is not None:
            return Conflict
        existing = next((t for t in self.history if t.reverses_id == original.id), None)
        if existing is not None and existing.key != key:
            return Conflict
        mirror = MRequest(key, original.credit, original.debit, original.amount, original.code)
        return self.transfer(mirror, now, reverses_id=original.id)

    def batch(self, requests: list[MRequest], now: dt.datetime) -> list[Outcome]:
        return [self.transfer(r, now, batch=True) for r in requests]

    def linked(self, requests: list[MRequest], now: dt.datetime) -> Outcome | list[MTransfer]:
        keys = [r.key for r in requests]
        if len(set(keys)) != len(keys) or any(self._invalid(r) for r in requests):
            return InvalidInput
        before = self.snapshot()
        done: list[MTransfer] = []
        for request in requests:
            outcome = self.transfer(request, now)
            if not isinstance(outcome, MTransfer):
                self.__dict__.update(before.__dict__)
                return outcome
            done.append(outcome)
        return done

    # ------------------------------------------------------------------ replay

    def balance_at(self, account_id: int, at: dt.datetime) -> int:
        """Posted normal-side balance at instant ``at`` (inclusive), from the history alone."""
        debits = sum(
            t.amount
            for t in self.history
            if t.kind in POSTING and t.debit == account_id and t.at <= at
        )
        credits = sum(
            t.amount
            for t in self.history
            if t.kind in POSTING and t.credit == account_id and t.at <= at
        )
        side = self.accounts[account_id].kind.normal_side
        return debits - credits if side is NormalSide.DEBIT else credits - debits

    def replayed_counters(self, account_id: int) -> list[int]:
        """The four counters of ``account_id`` recomputed from the history (not incrementally)."""
        resolved = {t.pending_id for t in self.history if t.pending_id is not None}
        result = [0, 0, 0, 0]
        for t in self.history:
            open_hold = t.kind == "pending" and t.id not in resolved
            if t.kind in POSTING or open_hold:
                offset = 0 if t.kind in POSTING else 2
                if t.debit == account_id:
                    result[offset] += t.amount
                if t.credit == account_id:
                    result[offset + 1] += t.amount
        return result
