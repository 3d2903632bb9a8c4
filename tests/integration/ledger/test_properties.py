"""Property tests: random operation sequences against the real ledger and a reference model.

Each example opens its own accounts and runs a random mix of openings, transfers, holds, posts,
voids, expiries, reversals, batches, linked groups and idempotent replays, one database
transaction per operation (a rejected one is rolled back). After every operation:

- every outcome (the transfer, or the error class / problem slug) is what the model predicts;
- every account's counters equal the model's and the model's replay of its history;
- the ledger's own ``verify()`` finds every counter equal to the replayed history;
- the sum of all balances is zero (posted and pending);
- no account flagged "debits must not exceed credits" (or the reverse) is beyond its limit.

At the end ``balance_at`` and ``statement`` are compared with the model's replay at every
instant the example touched.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.integration.ledger._model import Model, MRequest, MTransfer, Outcome
from yikatong.core import clock
from yikatong.core.errors import Conflict, DomainError
from yikatong.ledger import service
from yikatong.ledger.models import Account, AccountKind, NormalSide, Transfer
from yikatong.node import Node

_examples = itertools.count()
UNKNOWN_ACCOUNT = 2_000_000_000

# (kind, credits_must_not_exceed_debits): card and merchant accounts refuse overdraft by
# default, the asset account carries the opposite flag, bank and revenue are unlimited.
ACCOUNT_SHAPES = [
    (AccountKind.BANK, False),
    (AccountKind.CARD_FINANCIAL, False),
    (AccountKind.MERCHANT_SETTLEMENT, False),
    (AccountKind.REVENUE, False),
    (AccountKind.ASSET, True),
]

OPS = [
    "open",
    "topup",
    "topup",
    "transfer",
    "transfer",
    "transfer",
    "hold",
    "post",
    "void",
    "expire",
    "reverse",
    "batch",
    "linked",
    "replay",
]


class Run:
    """One example: the node, the model, fresh keys and the instants seen."""

    def __init__(self, node: Node, data: st.DataObject, fixed: clock.FixedClock) -> None:
        self.node = node
        self.data = data
        self.clock = fixed
        self.model = Model()
        self.prefix = f"p{next(_examples)}"
        self.keys = itertools.count()
        self.instants: list[dt.datetime] = []
        self.requests: list[MRequest] = []  # single-transfer requests sent so far

    # ------------------------------------------------------------ drawing

    def fresh_key(self) -> str:
        return f"{self.prefix}-{next(self.keys)}"

    def account(self) -> int:
        if self.data.draw(st.integers(0, 19)) == 0:
            return UNKNOWN_ACCOUNT
        return self.data.draw(st.sampled_from(sorted(self.model.accounts)))

    def other(self, account_id: int) -> int:
        others = sorted(set(self.model.accounts) - {account_id})
        return self.data.draw(st.sampled_from(others)) if others else UNKNOWN_ACCOUNT

    def hold(self) -> int:
        holds = self.holds()
        if not holds or self.data.draw(st.integers(0, 9)) == 0:
            return 999_999_999
        return self.data.draw(st.sampled_from(holds))

    def amount(self) -> int:
        """Mostly a valid amount; now and then zero or negative."""
        if self.data.draw(st.integers(0, 15)) == 0:
            return self.data.draw(st.sampled_from([0, -1]))
        return self.data.draw(st.integers(1, 1_500))

    def request(self, *, pending: bool | None = None, reuse: bool = True) -> MRequest:
        if reuse and self.requests and self.data.draw(st.integers(0, 5)) == 0:
            earlier = self.data.draw(st.sampled_from(self.requests))
            tweak = self.data.draw(st.integers(0, 1))
            return MRequest(
                earlier.key,
                earlier.debit,
                earlier.credit,
                earlier.amount + tweak,
                earlier.code,
                earlier.pending,
                earlier.timeout,
            )
        debit = self.account()
        credit = debit if self.data.draw(st.integers(0, 9)) == 0 else self.other(debit)
        is_hold = self.data.draw(st.booleans()) if pending is None else pending
        timeout = None
        if is_hold and self.data.draw(st.booleans()):
            timeout = dt.timedelta(seconds=self.data.draw(st.integers(1, 8)))
        return MRequest(
            self.fresh_key(),
            debit,
            credit,
            self.amount(),
            self.data.draw(st.integers(0, 2)),
            is_hold,
            timeout,
        )

    @staticmethod
    def real(request: MRequest) -> service.TransferRequest:
        return service.TransferRequest(
            idempotency_key=request.key,
            debit_account_id=request.debit,
            credit_account_id=request.credit,
            amount=request.amount,
            code=request.code,
            pending=request.pending,
            timeout=request.timeout,
            metadata={"example": "property"},
        )

    def holds(self) -> list[int]:
        return [t.id for t in self.model.history if t.kind == "pending"]

    # ------------------------------------------------------------ comparing

    def expect_single(self, expected: Outcome, got: Transfer | DomainError) -> None:
        event(f"outcome: {got.kind if isinstance(got, Transfer) else type(got).__name__}")
        if isinstance(expected, MTransfer):
            assert isinstance(got, Transfer), f"model posted {expected}, ledger said {got!r}"
            if expected.id == -1:
                expected.id = got.id
            assert got.id == expected.id
            assert (str(got.kind), got.debit_account_id, got.credit_account_id) == (
                expected.kind,
                expected.debit,
                expected.credit,
            )
            assert (got.amount, got.pending_id, got.reverses_id) == (
                expected.amount,
                expected.pending_id,
                expected.reverses_id,
            )
        else:
            assert type(got) is expected, f"model expected {expected.__name__}, got {got!r}"
            # A key reused with different content, a closed hold, no funds: HTTP 409.
            assert got.status == (409 if issubclass(expected, Conflict) else expected.status)

    def attempt(self, action: Callable[[Session], Transfer]) -> Transfer | DomainError:
        try:
            with self.node.transaction() as session:
                return action(session)
        except DomainError as error:
            return error

    # ------------------------------------------------------------ operations

    def step(self, op: str) -> None:
        model = self.model
        now = clock.now()
        if op == "open":
            self.open(*self.data.draw(st.sampled_from(ACCOUNT_SHAPES)))
        elif op == "topup":
            # From an account without limit, so that the limited ones have something to spend.
            unlimited = [a.id for a in model.accounts.values() if not (a.dmnec or a.cmned)]
            debit = self.data.draw(st.sampled_from(unlimited))
            request = MRequest(
                self.fresh_key(),
                debit,
                self.other(debit),
                self.data.draw(st.integers(1, 5_000)),
            )
            self.requests.append(request)
            expected = model.transfer(request, now)
            got = self.attempt(lambda s: service.post_transfer(s, self.real(request)))
            self.expect_single(expected, got)
        elif op in ("transfer", "hold"):
            request = self.request(pending=True if op == "hold" else None)
            self.requests.append(request)
            expected = model.transfer(request, now)
            got = self.attempt(lambda s: service.post_transfer(s, self.real(request)))
            self.expect_single(expected, got)
        elif op in ("post", "void"):
            hold_id = self.hold()
            key = self.fresh_key()
            if model.by_key and self.data.draw(st.integers(0, 7)) == 0:
                key = self.data.draw(st.sampled_from(sorted(model.by_key)))
            if op == "post":
                amount = self.amount() if self.data.draw(st.booleans()) else None
                expected = model.resolve(hold_id, key, "posted_from_pending", amount, now)
                got = self.attempt(
                    lambda s: service.post_pending(s, hold_id, idempotency_key=key, amount=amount)
                )
            else:
                expected = model.resolve(hold_id, key, "voided", None, now)
                got = self.attempt(lambda s: service.void_pending(s, hold_id, idempotency_key=key))
            self.expect_single(expected, got)
        elif op == "expire":
            self.clock.advance(seconds=self.data.draw(st.integers(0, 6)))
            now = clock.now()
            expired = model.expire(now)
            event(f"expired: {min(len(expired), 2)}")
            with self.node.transaction() as session:
                assert service.expire_pending(session, now) == len(expired)
                for transfer in expired:
                    real = service.get_transfer_by_key(session, transfer.key)
                    assert real is not None and real.pending_id == transfer.pending_id
                    transfer.id = real.id
        elif op == "reverse":
            ids = [t.id for t in model.history] or [999_999_999]
            target = self.data.draw(st.sampled_from(ids))
            key = self.fresh_key()
            expected = model.reverse(target, key, now)
            got = self.attempt(
                lambda s: service.reverse_transfer(s, target, idempotency_key=key, reason="test")
            )
            self.expect_single(expected, got)
        elif op == "replay":
            if not self.requests:
                return
            earlier = self.data.draw(st.sampled_from(self.requests))
            expected = model.transfer(earlier, now)
            got = self.attempt(lambda s: service.post_transfer(s, self.real(earlier)))
            if isinstance(expected, MTransfer) and expected.id != -1:
                assert isinstance(got, Transfer) and got.id == expected.id  # the original result
            self.expect_single(expected, got)
        elif op == "batch":
            requests = [self.request() for _ in range(self.data.draw(st.integers(1, 8)))]
            self.batch(requests, now)
        elif op == "linked":
            requests = [
                self.request(pending=False, reuse=False)
                for _ in range(self.data.draw(st.integers(1, 3)))
            ]
            self.linked(requests, now)
        self.instants.append(now)
        self.check_invariants()
        self.clock.advance(seconds=self.data.draw(st.integers(0, 2)))

    def open(self, kind: AccountKind, cmned: bool) -> None:
        with self.node.transaction() as session:
            account = service.open_account(
                session, code=self.fresh_key(), kind=kind, credits_must_not_exceed_debits=cmned
            )
            shape = self.model.open(account.id, kind, cmned)
            assert account.debits_must_not_exceed_credits == shape.dmnec

    def batch(self, requests: list[MRequest], now: dt.datetime) -> None:
        before = {key: t.id for key, t in self.model.by_key.items()}
        expected = self.model.batch(requests, now)
        with self.node.transaction() as session:
            outcomes = service.post_batch(session, [self.real(r) for r in requests])
        assert len(outcomes) == len(requests)
        for request, want, got in zip(requests, expected, outcomes, strict=True):
            event(f"batch: {got.status} {got.error or ''}")
            assert got.idempotency_key == request.key
            if isinstance(want, MTransfer):
                fresh = want.id == -1 and request.key not in before
                if fresh:
                    want.id = got.transfer_id if got.transfer_id is not None else -2
                    assert got.status is service.BatchStatus.POSTED, got
                else:
                    assert got.status is service.BatchStatus.DUPLICATE, got
                assert got.transfer_id == want.id
            else:
                assert got.status is service.BatchStatus.REJECTED
                assert got.error == want.slug, (got, want)

    def linked(self, requests: list[MRequest], now: dt.datetime) -> None:
        expected = self.model.linked(requests, now)
        try:
            with self.node.transaction() as session:
                got = service.post_linked(session, [self.real(r) for r in requests])
        except DomainError as error:
            assert not isinstance(expected, list), f"model posted the group, ledger: {error!r}"
            assert type(error) is expected
            return
        assert isinstance(expected, list), f"model expected {expected}, ledger posted the group"
        assert len({t.linked_id for t in got}) == 1
        for want, transfer in zip(expected, got, strict=True):
            self.expect_single(want, transfer)

    # ------------------------------------------------------------ invariants

    def check_invariants(self) -> None:
        with self.node.transaction() as session:
            assert service.verify(session) == []
            sums = session.execute(
                select(
                    func.sum(Account.debits_posted - Account.credits_posted),
                    func.sum(Account.debits_pending - Account.credits_pending),
                )
            ).one()
            assert (int(sums[0] or 0), int(sums[1] or 0)) == (0, 0)
            over_limit = session.scalar(
                select(func.count()).where(
                    (
                        Account.debits_must_not_exceed_credits
                        & (Account.debits_posted + Account.debits_pending > Account.credits_posted)
                    )
                    | (
                        Account.credits_must_not_exceed_debits
                        & (Account.credits_posted + Account.credits_pending > Account.debits_posted)
                    )
                )
            )
            assert over_limit == 0
            stored = {
                row.id: row
                for row in session.scalars(
                    select(Account)
                    .where(Account.id.in_(list(self.model.accounts)))
                    .execution_options(populate_existing=True)
                )
            }
            for account_id, shape in self.model.accounts.items():
                real = stored[account_id]
                counters = [
                    real.debits_posted,
                    real.credits_posted,
                    real.debits_pending,
                    real.credits_pending,
                ]
                assert counters == shape.counters == self.model.replayed_counters(account_id)
                if shape.dmnec:
                    assert real.balance >= 0 and (real.available or 0) >= 0

    def check_history(self, session: Session) -> None:
        probes = sorted({t for at in self.instants for t in (at, at - dt.timedelta(seconds=1))})
        for account_id in self.model.accounts:
            for at in probes:
                assert service.balance_at(session, account_id, at) == self.model.balance_at(
                    account_id, at
                )
            lines = service.statement(session, account_id).lines
            posted = [
                t
                for t in self.model.history
                if t.kind in ("posted", "posted_from_pending") and account_id in (t.debit, t.credit)
            ]
            assert [line.transfer_id for line in lines] == sorted(t.id for t in posted)
            running = 0
            side = self.model.accounts[account_id].kind.normal_side
            for line, transfer in zip(lines, sorted(posted, key=lambda t: t.id), strict=True):
                sign = 1 if (transfer.debit == account_id) == (side is NormalSide.DEBIT) else -1
                running += sign * transfer.amount
                assert line.balance == running
            closing = lines[-1].balance if lines else 0
            assert closing == service.balance(session, account_id)


def run_example(node: Node, fixed_clock: clock.FixedClock, data: st.DataObject) -> None:
    # Holds of earlier examples (same database) must not expire under this example's model.
    fixed_clock.advance(days=1)
    with node.transaction() as session:
        service.expire_pending(session, clock.now())
    run = Run(node, data, fixed_clock)
    run.open(AccountKind.BANK, False)
    run.open(AccountKind.CARD_FINANCIAL, False)
    for op in data.draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=25), label="ops"):
        run.step(op)
    with node.transaction() as session:
        run.check_history(session)
        assert service.trial_balance(session).balanced


_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=15, **_SETTINGS)  # type: ignore[arg-type]
@given(data=st.data())
def test_random_operations_keep_the_ledger_consistent(
    node: Node, fixed_clock: clock.FixedClock, data: st.DataObject
) -> None:
    run_example(node, fixed_clock, data)


@pytest.mark.slow
@settings(max_examples=300, **_SETTINGS)  # type: ignore[arg-type]
@given(data=st.data())
def test_many_random_operation_sequences(
    node: Node, fixed_clock: clock.FixedClock, data: st.DataObject
) -> None:
    run_example(node, fixed_clock, data)
