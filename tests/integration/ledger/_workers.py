"""Code run in separate OS processes (multiprocessing, spawn) by the concurrency and crash tests.

Each worker opens its own engine on the test database and reports only what was committed:
an entry is acknowledged after its transaction's COMMIT returned.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from yikatong.core import db
from yikatong.ledger import service
from yikatong.ledger.service import BatchStatus, TransferRequest

# One acknowledged effect: (key, kind, debit, credit, amount, released hold amount).
Ack = tuple[str, str, int, int, int, int]


def hot_accounts(
    url: str, worker: int, bank: int, cards: list[int], shop: int, rounds: int, seed: int
) -> dict[str, Any]:
    """Spend from a few shared card purses (no overdraft) as fast as possible.

    Mixes single transfers, holds that are then posted in part, small batches, top-ups and
    transfers under keys that every worker uses with the same content (only one may post).
    """
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    rng = random.Random(seed)
    acks: list[Ack] = []
    shared: dict[str, int] = {}
    rejected = 0
    for n in range(rounds):
        card = rng.choice(cards)
        key = f"w{worker}-{n}"
        choice = rng.random()
        try:
            if n % 10 == 0:
                # The same key and content in every worker: posted once, seen by all.
                shared_key = f"shared-{n}"
                with db.transaction(sessions) as session:
                    request = TransferRequest(shared_key, bank, cards[0], 7)
                    transfer = service.post_transfer(session, request)
                shared[shared_key] = transfer.id
            elif choice < 0.5:
                with db.transaction(sessions) as session:
                    amount = rng.randint(1, 60)
                    service.post_transfer(session, TransferRequest(key, card, shop, amount))
                acks.append((key, "posted", card, shop, amount, 0))
            elif choice < 0.6:
                amount = rng.randint(1, 40)
                with db.transaction(sessions) as session:
                    request = TransferRequest(key, bank, card, amount)
                    service.post_transfer(session, request)
                acks.append((key, "posted", bank, card, amount, 0))
            elif choice < 0.8:
                held = rng.randint(2, 60)
                with db.transaction(sessions) as session:
                    request = TransferRequest(key, card, shop, held, pending=True)
                    hold = service.post_transfer(session, request)
                acks.append((key, "pending", card, shop, held, 0))
                posted = rng.randint(1, held)
                with db.transaction(sessions) as session:
                    service.post_pending(
                        session, hold.id, idempotency_key=f"{key}-post", amount=posted
                    )
                acks.append((f"{key}-post", "posted_from_pending", card, shop, posted, held))
            else:
                requests = [
                    TransferRequest(f"{key}-{i}", rng.choice(cards), shop, rng.randint(1, 30))
                    for i in range(20)
                ]
                with db.transaction(sessions) as session:
                    outcomes = service.post_batch(session, requests)
                for request, outcome in zip(requests, outcomes, strict=True):
                    if outcome.status is BatchStatus.POSTED:
                        acks.append(
                            (
                                request.idempotency_key,
                                "posted",
                                request.debit_account_id,
                                request.credit_account_id,
                                request.amount,
                                0,
                            )
                        )
                    else:
                        assert outcome.error == "insufficient-funds", outcome
                        rejected += 1
        except service.InsufficientFunds:
            rejected += 1
    engine.dispose()
    return {"acks": acks, "shared": shared, "rejected": rejected}


def bulk_until_killed(url: str, bank: int, cards: list[int], shop: int, ack_path: str) -> None:
    """Post batch after batch forever; after each COMMIT append its outcome to ``ack_path``.

    A line is written with one ``write`` and fsynced before the next batch starts, so every line
    on disk names a committed batch. The parent kills this process with SIGKILL.
    """
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    rng = random.Random(7)
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    n = 0
    while True:
        requests = []
        for i in range(1_000):
            card = rng.choice(cards)
            if rng.random() < 0.3:
                requests.append(TransferRequest(f"b{n}-{i}", bank, card, rng.randint(1, 200)))
            else:
                requests.append(TransferRequest(f"b{n}-{i}", card, shop, rng.randint(1, 100)))
        with db.transaction(sessions) as session:
            outcomes = service.post_batch(session, requests)
        posted = [o.idempotency_key for o in outcomes if o.status is BatchStatus.POSTED]
        line = json.dumps({"batch": n, "size": len(requests), "posted": posted}) + "\n"
        os.write(fd, line.encode())
        os.fsync(fd)
        # A single posting between batches, acknowledged the same way.
        with db.transaction(sessions) as session:
            service.post_transfer(session, TransferRequest(f"s{n}", bank, cards[0], 1))
        os.write(fd, (json.dumps({"single": f"s{n}"}) + "\n").encode())
        os.fsync(fd)
        n += 1
