"""Claimers run in separate OS processes (multiprocessing, spawn) by the concurrency test.

Each worker opens its own engine on the test database, stands its clock at the given instant and
reports only what was committed: a claim is acknowledged after its transaction's COMMIT returned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from yikatong.core import clock, db
from yikatong.core.errors import Conflict
from yikatong.vouchers import service


def claim_all(
    url: str, campaign: str, type_code: str, resident_ids: list[int], at: str, barrier: Any
) -> dict[str, Any]:
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    acks: list[tuple[int, int]] = []  # (voucher id, resident id)
    refused: list[str] = []
    with clock.clock_override(clock.FixedClock(dt.datetime.fromisoformat(at))):
        barrier.wait()
        for resident_id in resident_ids:
            try:
                with db.transaction(sessions) as session:
                    voucher = service.claim_voucher(session, campaign, type_code, resident_id)
                    voucher_id = voucher.id
            except Conflict as refusal:
                refused.append(refusal.detail)
                continue
            acks.append((voucher_id, resident_id))
    engine.dispose()
    return {"acks": acks, "refused": refused}
