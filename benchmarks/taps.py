"""Offline taps ingested per second: fares computed, ledger posted, duplicates rejected.

Two measurements on a fresh SQLite node, in the same run, over the same kind of workload
(bus rides of funded cards spread over a month, uploaded by several bus terminals):

- ``naive``: the baseline loop — every tap uploaded on its own, one database transaction per
  tap (``transit.service.upload_rides`` with a batch of one);
- ``bulk``: the same service with batches of thousands of taps per transaction (set-based:
  one duplicate check, one ledger ``post_batch``, one bulk insert per batch).

Afterwards a sample of the batches is uploaded again: every tap must come back as a duplicate
and nothing may be charged twice; the merchant's acquired balance must equal the sum of the
charged taps and the trial balance must balance. Goal (issue 4): 1M taps in under a minute.

    .venv/bin/python benchmarks/taps.py [--quick] [--taps N] [--batch-size B]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_json, machine, peak_rss_kib, ratio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from yikatong.acquiring import service as acquiring  # noqa: E402
from yikatong.acquiring.models import Tap  # noqa: E402
from yikatong.cards import service as cards_service  # noqa: E402
from yikatong.core import clock, db  # noqa: E402
from yikatong.core.ids import make_resident_id  # noqa: E402
from yikatong.core.settings import Settings  # noqa: E402
from yikatong.ledger import service as ledger  # noqa: E402
from yikatong.node import Node, set_current  # noqa: E402
from yikatong.registry import service as registry_service  # noqa: E402
from yikatong.transit import service as transit  # noqa: E402
from yikatong.transit.bank import SandboxBank  # noqa: E402

LOCAL = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 3, 31, 22, 0, tzinfo=LOCAL)
LINES = ("1", "2", "26", "321", "501")
GOALS = {"bulk_taps_per_s": 1_000_000 / 60}
SIZES = {
    # riders, naive taps, bulk taps, batch size
    "quick": (80, 120, 8_000, 4_000),
    "full": (2_000, 2_000, 1_000_000, 20_000),
}


def make_riders(node: Node, count: int) -> list[str]:
    cards: list[str] = []
    bank = SandboxBank()
    with node.transaction() as session:
        for n in range(count):
            birth = dt.date(1940 + n % 60, 1 + n % 12, 1 + n % 28)
            resident = registry_service.enrol_resident(
                session,
                registry_service.ResidentInput(
                    id_number=make_resident_id("370202", birth, n % 999 + 1),
                    name=f"乘客{n}",
                    district_code="370202",
                ),
                actor="benchmark",
            )
            card = cards_service.apply_for_card(session, resident.id, actor="benchmark")
            cards_service.issue_card(session, card.card_no, actor="benchmark", reason="made")
            cards_service.activate_card(session, card.card_no, actor="benchmark", reason="ok")
            bank.deposit(session, card_no=card.card_no, amount=100_000, reference=f"d{n}")
            transit.top_up(session, card_no=card.card_no, amount=100_000, idempotency_key=f"t{n}")
            cards.append(card.card_no)
    return cards


def workload(
    cards: list[str],
    terminals: list[str],
    count: int,
    seqs: itertools.count[int],
    rng: random.Random,
) -> dict[str, list[acquiring.OfflineTap]]:
    """``count`` taps spread over March, grouped by terminal."""
    start = NOW - dt.timedelta(days=29)
    span = int((NOW - start).total_seconds())
    by_terminal: dict[str, list[acquiring.OfflineTap]] = {t: [] for t in terminals}
    for _ in range(count):
        terminal = rng.choice(terminals)
        at = start + dt.timedelta(seconds=rng.randrange(span))
        by_terminal[terminal].append(acquiring.OfflineTap(next(seqs), rng.choice(cards), at, {}))
    return by_terminal


def batches(
    by_terminal: dict[str, list[acquiring.OfflineTap]], size: int
) -> list[tuple[str, list[acquiring.OfflineTap]]]:
    out = []
    for terminal, taps in by_terminal.items():
        for begin in range(0, len(taps), size):
            out.append((terminal, taps[begin : begin + size]))
    return out


def upload(
    node: Node, terminal_no: str, taps: list[acquiring.OfflineTap]
) -> acquiring.UploadResult:
    with node.transaction() as session:
        terminal = acquiring.get_terminal(session, terminal_no)
        return transit.upload_rides(session, terminal, taps, return_taps=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    parser.add_argument("--taps", type=int, help="taps for the bulk path")
    parser.add_argument("--batch-size", type=int, help="taps per upload")
    args = parser.parse_args()
    riders, naive_n, bulk_n, batch = SIZES["quick" if args.quick else "full"]
    bulk_n = args.taps or bulk_n
    batch = args.batch_size or batch
    rng = random.Random(20250310)
    with tempfile.TemporaryDirectory(prefix="ykt-taps-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/taps.db", demo=True)
        node = Node.open(settings)
        set_current(node)
        db.create_schema(node.engine)
        with clock.clock_override(clock.FixedClock(NOW.astimezone(dt.UTC))):
            t0 = time.perf_counter()
            cards = make_riders(node, riders)
            with node.transaction() as session:
                acquiring.register_merchant(
                    session, code="qd-bus", name="青岛公交", kind=acquiring.MerchantKind.BUS
                )
                terminals = []
                for i, line in enumerate(LINES * 2):
                    number = f"BUS-{i:04d}"
                    acquiring.register_terminal(
                        session, terminal_no=number, merchant_code="qd-bus", line=line
                    )
                    terminals.append(number)
            print(f"setup: {riders} riders with funded purses in {time.perf_counter() - t0:.1f} s")
            seqs = itertools.count(1)

            naive_taps = workload(cards, terminals, naive_n, seqs, rng)
            t0 = time.perf_counter()
            for terminal, taps in naive_taps.items():
                for tap in taps:
                    upload(node, terminal, [tap])
            naive_s = time.perf_counter() - t0
            naive_rate = naive_n / naive_s
            print(f"naive: {naive_n} taps, one transaction each: {naive_rate:,.0f} taps/s")

            bulk_batches = batches(workload(cards, terminals, bulk_n, seqs, rng), batch)
            t0 = time.perf_counter()
            approved = debts = 0
            for terminal, taps in bulk_batches:
                result = upload(node, terminal, taps)
                approved += result.approved
                debts += result.debts
            bulk_s = time.perf_counter() - t0
            bulk_rate = bulk_n / bulk_s
            print(
                f"bulk:  {bulk_n} taps in batches of {batch}: {bulk_rate:,.0f} taps/s "
                f"({bulk_s:.1f} s; {approved} approved, {debts} debts)"
            )

            sample = bulk_batches[: max(1, len(bulk_batches) // 10)]
            t0 = time.perf_counter()
            again = sum(upload(node, terminal, taps).duplicates for terminal, taps in sample)
            dup_s = time.perf_counter() - t0
            resent = sum(len(taps) for _, taps in sample)
            assert again == resent, f"{again} of {resent} re-uploaded taps were recognised"
            print(
                f"re-upload: {resent} taps all recognised as duplicates ({resent / dup_s:,.0f}/s)"
            )

            with node.transaction() as session:
                merchant = acquiring.get_merchant(session, "qd-bus")
                charged = session.scalar(
                    select(func.coalesce(func.sum(Tap.amount), 0)).where(
                        Tap.transfer_id.is_not(None)
                    )
                )
                acquired = ledger.balance(session, merchant.acquired_account_id)
                assert int(charged or 0) == acquired, (charged, acquired)
                assert ledger.trial_balance(session).balanced
            print(f"check: merchant acquired {acquired} fen = sum of charged taps; books balance")
        node.close()
    ratios = {"bulk_vs_naive": ratio(bulk_rate, naive_rate)}
    emit_json(
        {
            "benchmark": "taps",
            "ratios": ratios,
            "taps_per_s": {"naive": round(naive_rate, 1), "bulk": round(bulk_rate, 1)},
            "taps": {"naive": naive_n, "bulk": bulk_n, "batch": batch},
            "goals": GOALS,
            "goals_met": {"bulk_taps_per_s": bulk_rate >= GOALS["bulk_taps_per_s"]},
            "backend": "sqlite",
            "peak_rss_kib": peak_rss_kib(),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
