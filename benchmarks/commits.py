"""How long a small SQLite transaction takes while a steady stream of them goes on: with the
write-ahead log copied back by the checkpointer's thread (``core.db``, the platform's way) and,
measured in the same run on the same file, with SQLite's own checkpoint in whichever commit takes
the log past 1,000 pages (the baseline).

A busy node's writes look like this: four request threads, RATE transactions/s in all, each one
a tap's worth of scattered writes (a row updated at a random place of a big table, a row
inserted under a random key). Latency is counted from each transaction's scheduled start, so a
commit that stalls the ones queued behind it shows in theirs too. The database is built first:
ROWS rows with two indexes, several times the page cache, as a month of taps is.

Ratios above 1 say the baseline's tail was longer: ``p99_sqlite_vs_background`` is the baseline's
p99 over the platform's. The two ways alternate (ROUNDS each) so that a slower minute of the
machine does not fall on one of them only.

    .venv/bin/python benchmarks/commits.py [--quick] [--rate N] [--seconds S]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import emit_json, machine, ratio
from sqlalchemy import Engine, event, text

from yikatong.core import db

SIZES = {"quick": (300_000, 6.0, 1), "full": (3_000_000, 40.0, 2)}  # rows, seconds, rounds
THREADS = 4


def build(path: Path, rows: int) -> None:
    """A taps-like table of ``rows`` rows, keyed and indexed at random."""
    engine = db.make_engine(f"sqlite:///{path}")
    rng = random.Random(7)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE tap (id INTEGER PRIMARY KEY, card TEXT, at REAL, amount INTEGER)")
        )
        connection.execute(text("CREATE INDEX tap_card_at ON tap (card, at)"))
        connection.execute(text("CREATE TABLE extra (k TEXT PRIMARY KEY, v INTEGER)"))
        connection.execute(text("CREATE INDEX extra_v ON extra (v)"))
    for first in range(0, rows, 100_000):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO tap (card, at, amount) VALUES (:card, :at, :amount)"),
                [
                    {
                        "card": f"{rng.randrange(10**9):09d}",
                        "at": rng.random() * 2.6e6,
                        "amount": 200,
                    }
                    for _ in range(min(100_000, rows - first))
                ],
            )
    engine.dispose()


@contextmanager
def sqlite_own_checkpoint(engine: Engine) -> Iterator[None]:
    """The baseline: every writing connection checkpoints in its commit again (SQLite's
    default of 1,000 pages) and the checkpointer's thread is never woken."""

    def autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=1000")

    event.listen(engine, "connect", autocheckpoint)
    nudge = db._Checkpointer.nudge
    db._Checkpointer.nudge = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        db._Checkpointer.nudge = nudge  # type: ignore[method-assign]
        event.remove(engine, "connect", autocheckpoint)


def stream(
    path: Path, rows: int, rate: float, seconds: float, *, baseline: bool, tag: str
) -> list[float]:
    """Latencies (ms) of ``rate`` transactions/s for ``seconds`` from ``THREADS`` threads
    (``tag``: this phase's name, which keeps its inserted keys apart from other phases')."""
    engine = db.make_engine(f"sqlite:///{path}")
    latencies: list[float] = []
    failures: list[BaseException] = []
    guard = threading.Lock()

    def writer(index: int) -> None:
        try:
            write(index)
        except BaseException as error:  # reported after the join
            failures.append(error)

    def write(index: int) -> None:
        rng = random.Random(f"{tag}-{index}")
        per_thread = rate / THREADS
        start = time.perf_counter() + index / rate
        mine: list[float] = []
        n = 0
        while n / per_thread < seconds:
            due = start + n / per_thread
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with engine.begin() as connection:
                connection.execute(
                    text("UPDATE tap SET amount = amount + 1 WHERE id = :id"),
                    {"id": rng.randint(1, rows)},
                )
                connection.execute(
                    text("INSERT INTO extra VALUES (:k, :v)"),
                    {"k": f"{tag}-{index}-{n}", "v": rng.randrange(10**9)},
                )
            mine.append((time.perf_counter() - due) * 1000)
            n += 1
        with guard:
            latencies.extend(mine)

    with sqlite_own_checkpoint(engine) if baseline else _nothing():
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    engine.dispose()
    if failures:
        raise failures[0]
    return sorted(latencies)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def figures(ordered: list[float]) -> dict[str, float]:
    return {
        "transactions": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2),
        "p999_ms": round(percentile(ordered, 0.999), 2),
        "max_ms": round(ordered[-1], 2),
        "over_20_ms": sum(1 for x in ordered if x > 20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300,000 rows, 6 s per way")
    parser.add_argument("--rate", type=float, default=300.0, help="transactions/s in all")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per way and round")
    args = parser.parse_args()
    rows, seconds, rounds = SIZES["quick" if args.quick else "full"]
    seconds = args.seconds or seconds
    with tempfile.TemporaryDirectory(prefix="ykt-commits-") as tmp:
        path = Path(tmp) / "commits.db"
        began = time.perf_counter()
        build(path, rows)
        print(f"setup: {rows:,} rows in {time.perf_counter() - began:.1f} s")
        measured: dict[str, list[float]] = {"sqlite": [], "background": []}
        for round_no in range(rounds):
            for way in ("sqlite", "background"):
                ordered = stream(
                    path,
                    rows,
                    args.rate,
                    seconds,
                    baseline=way == "sqlite",
                    tag=f"{way}{round_no}",
                )
                measured[way].extend(ordered)
                shown = figures(ordered)
                print(
                    f"round {round_no + 1} {way:10s} p50 {shown['p50_ms']} ms, p99 "
                    f"{shown['p99_ms']} ms, p99.9 {shown['p999_ms']} ms, max {shown['max_ms']} ms"
                )
    result = {way: figures(sorted(values)) for way, values in measured.items()}
    emit_json(
        {
            "benchmark": "commits",
            "ratios": {
                "p99_sqlite_vs_background": ratio(
                    result["sqlite"]["p99_ms"], result["background"]["p99_ms"]
                ),
                "p999_sqlite_vs_background": ratio(
                    result["sqlite"]["p999_ms"], result["background"]["p999_ms"]
                ),
                "max_sqlite_vs_background": ratio(
                    result["sqlite"]["max_ms"], result["background"]["max_ms"]
                ),
            },
            "rate": args.rate,
            "threads": THREADS,
            "rows": rows,
            "seconds_per_round": seconds,
            "rounds": rounds,
            "ways": result,
            "quick": args.quick,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
