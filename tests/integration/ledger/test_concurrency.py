"""Several OS processes post against the same few hot accounts at the same time.

Evidence asked by the issue: no lost update (every account's counters equal the sum of the
transfers its workers saw committed, and equal the replayed history), no overdraft on the purses
that forbid it although the workers together try to spend far more than they hold, and a key
posted concurrently by every worker with the same content exists once.
"""

from __future__ import annotations

import multiprocessing
from collections import defaultdict

from sqlalchemy import func, select

from tests.integration.ledger import _workers
from yikatong.ledger import service
from yikatong.ledger.models import Account, AccountKind, Transfer
from yikatong.node import Node

WORKERS = 4
ROUNDS = 120


def test_processes_posting_on_hot_accounts_lose_nothing_and_never_overdraw(node: Node) -> None:
    with node.transaction() as session:
        bank = service.open_account(session, code="bank", kind=AccountKind.BANK).id
        shop = service.open_account(session, code="shop", kind=AccountKind.MERCHANT_SETTLEMENT).id
        cards = [
            service.open_account(session, code=f"card-{i}", kind=AccountKind.CARD_FINANCIAL).id
            for i in range(3)
        ]
        for card in cards:
            service.post_transfer(session, service.TransferRequest(f"fund-{card}", bank, card, 500))

    url = node.settings.effective_database_url
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(
            _workers.hot_accounts,
            [(url, w, bank, cards, shop, ROUNDS, 1000 + w) for w in range(WORKERS)],
        )

    # Expected counters from the acknowledged work only (plus the initial funding).
    expected: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for card in cards:
        expected[bank][0] += 500
        expected[card][1] += 500
    acked_keys = set()
    for result in results:
        for key, kind, debit, credit, amount, released in result["acks"]:
            acked_keys.add(key)
            if kind == "pending":
                expected[debit][2] += amount
                expected[credit][3] += amount
            else:
                expected[debit][2] -= released
                expected[credit][3] -= released
                expected[debit][0] += amount
                expected[credit][1] += amount

    # Shared keys: every worker that posted one saw the same transfer; it exists once.
    shared: dict[str, set[int]] = defaultdict(set)
    for result in results:
        for key, transfer_id in result["shared"].items():
            shared[key].add(transfer_id)
    assert shared and all(len(ids) == 1 for ids in shared.values())
    contended = sum(1 for key in shared if sum(key in r["shared"] for r in results) > 1)
    assert contended > 0  # at least one key was posted by several workers
    for _ in shared:
        expected[bank][0] += 7
        expected[cards[0]][1] += 7

    # The purses were drained: the workers asked for much more than there was.
    assert sum(r["rejected"] for r in results) > 0

    with node.transaction() as session:
        assert service.verify(session) == []
        assert service.trial_balance(session).balanced
        stored_keys = set(
            session.scalars(
                select(Transfer.idempotency_key).where(Transfer.idempotency_key.like("w%"))
            )
        )
        assert stored_keys == acked_keys  # nothing acknowledged is missing, nothing else exists
        for key, ids in shared.items():
            count = session.scalar(select(func.count()).where(Transfer.idempotency_key == key))
            assert count == 1
            assert service.get_transfer_by_key(session, key).id in ids  # type: ignore[union-attr]
        for account_id, want in expected.items():
            account = service.get_account(session, account_id)
            have = [
                account.debits_posted,
                account.credits_posted,
                account.debits_pending,
                account.credits_pending,
            ]
            assert have == want, account.code
        for card in cards:
            account = service.get_account(session, card)
            assert account.balance >= 0
            assert account.available is not None and account.available >= 0
        over = session.scalar(
            select(func.count()).where(
                Account.debits_must_not_exceed_credits,
                Account.debits_posted + Account.debits_pending > Account.credits_posted,
            )
        )
        assert over == 0
