"""kill -9 in the middle of a long series of bulk batches, then reopen the database.

The child acknowledges each committed batch (and a single posting between batches) in a file,
fsynced. After SIGKILL: every acknowledged transfer is there; a batch is all there or not at all;
at most the one batch or posting committed just before the kill is there unacknowledged; every
counter equals the replayed history and all balances sum to zero.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import func, select

from tests.integration.ledger import _workers
from yikatong.core import db
from yikatong.ledger import service
from yikatong.ledger.models import Account, AccountKind, Transfer
from yikatong.node import Node

ACKED_BATCHES_BEFORE_KILL = 4


def _acknowledged(path: Path) -> list[dict[str, object]]:
    """Complete lines only: a line cut by the kill was never acknowledged."""
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.split("\n")[:-1]]


def test_kill_9_mid_batch_loses_no_acknowledged_transfer(node: Node, tmp_path: Path) -> None:
    with node.transaction() as session:
        bank = service.open_account(session, code="bank", kind=AccountKind.BANK).id
        shop = service.open_account(session, code="shop", kind=AccountKind.MERCHANT_SETTLEMENT).id
        cards = [
            service.open_account(session, code=f"card-{i}", kind=AccountKind.CARD_FINANCIAL).id
            for i in range(50)
        ]
    url = node.settings.effective_database_url
    node.close()  # the child is the only writer, as after a restart
    acks = tmp_path / "acks.jsonl"

    child = multiprocessing.get_context("spawn").Process(
        target=_workers.bulk_until_killed, args=(url, bank, cards, shop, str(acks))
    )
    child.start()
    deadline = time.monotonic() + 120
    while sum("batch" in a for a in _acknowledged(acks)) < ACKED_BATCHES_BEFORE_KILL:
        assert child.is_alive(), "the child died before it was killed"
        assert time.monotonic() < deadline, "the child made no progress"
        time.sleep(0.01)
    # Somewhere inside the next batch's transaction.
    time.sleep(random.uniform(0.0, 0.15))
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL

    lines = _acknowledged(acks)
    acked_batches = {int(str(a["batch"])): a for a in lines if "batch" in a}
    acked_singles = {str(a["single"]) for a in lines if "single" in a}
    assert len(acked_batches) >= ACKED_BATCHES_BEFORE_KILL

    # Restart: a new engine on the same database.
    engine = db.make_engine(url)
    try:
        with db.transaction(db.make_sessionmaker(engine)) as session:
            assert service.verify(session) == []
            assert service.trial_balance(session).balanced
            sums = session.execute(
                select(
                    func.sum(Account.debits_posted - Account.credits_posted),
                    func.sum(Account.debits_pending - Account.credits_pending),
                )
            ).one()
            assert (sums[0], sums[1]) == (0, 0)
            over = session.scalar(
                select(func.count()).where(
                    Account.debits_must_not_exceed_credits,
                    Account.debits_posted + Account.debits_pending > Account.credits_posted,
                )
            )
            assert over == 0

            stored = set(session.scalars(select(Transfer.idempotency_key)))
            by_batch: dict[int, set[str]] = defaultdict(set)
            singles: set[str] = set()
            for key in stored:
                if key.startswith("b"):
                    by_batch[int(key[1:].split("-")[0])].add(key)
                elif key.startswith("s"):
                    singles.add(key)

            for n, ack in acked_batches.items():
                posted = set(ack["posted"])  # type: ignore[call-overload]
                assert by_batch.get(n, set()) == posted, f"batch {n} is not as acknowledged"
            assert acked_singles <= singles
            # Unacknowledged but committed: only what the kill interrupted after its COMMIT.
            last = max(acked_batches)
            extra_batches = set(by_batch) - set(acked_batches)
            assert extra_batches <= {last + 1}
            assert singles - acked_singles <= {f"s{last}"}
            if extra_batches:  # batch n+1 starts only after single s{n} was committed
                assert f"s{last}" in singles
    finally:
        engine.dispose()
