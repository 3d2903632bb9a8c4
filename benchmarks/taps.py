"""Offline taps ingested per second: fares computed, ledger posted, duplicates rejected.

Two measurements on a fresh SQLite node, in the same run, over the same kind of workload
(bus rides of funded cards over a month, 06:00–22:00 each day, 10 buses):

- ``naive``: the baseline loop — every tap uploaded on its own, one database transaction per
  tap (``transit.service.upload_rides`` with a batch of one);
- ``bulk``: set-based ingestion, thousands of taps per transaction (one duplicate check, one
  ledger ``post_batch``, one bulk insert). By default (``--path file``) as the bus company's
  data centre sends them each night: one ride file (交易文件, CSV) a day with every validator's
  taps, parsed and taken in by ``transit.ride_files`` as it is by ``ykt rides upload``. With
  ``--path terminal`` each validator uploads its own day (``upload_rides``, split at the batch
  size), as over ``POST /api/v1/terminal/rides/offline``.

Afterwards a sample is sent again (a day's file, and a tenth of the validators' uploads through
the terminal path): every tap must come back as a duplicate and nothing may be charged twice;
the merchant's acquired balance must equal the sum of the charged taps and the trial balance
must balance. Goal (issue 4): 1M taps in under a minute.

Then online authorisation over real HTTP: the same database served by ``ykt serve`` in its own
process, and signed ride requests (``POST /api/v1/terminal/rides``) sent open-loop at a fixed rate
by many terminals at once (each terminal one request at a time on its own keep-alive connection,
as a real validator; the client speaks HTTP/1.1 itself to leave the server its CPU). Latency is
counted from each request's scheduled send time, so a stalled server cannot hide its queue. The
baseline is the same server answering ``GET /api/v1/node`` at the same rate in the same run.
Goal (issue 4): p99 under 50 ms at 200 requests/s.

    .venv/bin/python benchmarks/taps.py [--quick] [--taps N] [--path file|terminal]
        [--batch-size B] [--rate R] [--riders N] [--days D]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import emit_json, machine, peak_rss_kib, ratio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from tests.support.keepalive import KeepAliveConnection  # noqa: E402
from yikatong.acquiring import service as acquiring  # noqa: E402
from yikatong.acquiring.models import Tap  # noqa: E402
from yikatong.cards import service as cards_service  # noqa: E402
from yikatong.core import clock, db  # noqa: E402
from yikatong.core.ids import make_resident_id  # noqa: E402
from yikatong.core.settings import Settings  # noqa: E402
from yikatong.ledger import service as ledger  # noqa: E402
from yikatong.node import Node, set_current  # noqa: E402
from yikatong.registry import service as registry_service  # noqa: E402
from yikatong.transit import ride_files  # noqa: E402
from yikatong.transit import service as transit  # noqa: E402
from yikatong.transit.bank import SandboxBank  # noqa: E402

LOCAL = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 3, 31, 22, 0, tzinfo=LOCAL)
LINES = ("1", "2", "26", "321", "501")
GOALS = {"bulk_taps_per_s": 1_000_000 / 60, "online_p99_ms": 50.0, "online_rate": 200.0}
SIZES = {
    # riders, naive taps, bulk taps, batch size, days: a few rides per rider and day, as in a
    # city, where one bus's upload shares few riders with another's
    "quick": (300, 120, 8_000, 4_000, 4),
    "full": (10_000, 2_000, 1_000_000, 20_000, 29),
}
ONLINE = {
    # online terminals, seconds of load per phase, requests per second
    "quick": (20, 4.0, 50.0),
    "full": (100, 30.0, 200.0),
}
YKT = Path(sys.executable).with_name("ykt")


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
    days: int,
) -> list[tuple[str, list[acquiring.OfflineTap]]]:
    """``count`` taps over the ``days`` up to ``NOW``, as (terminal, that day's taps), by day."""
    first_day = (NOW - dt.timedelta(days=days - 1)).replace(hour=6, minute=0, second=0)
    service_seconds = 16 * 3600
    uploads: list[tuple[str, list[acquiring.OfflineTap]]] = []
    for day in range(days):
        share = count // days + (1 if day < count % days else 0)
        opening = first_day + dt.timedelta(days=day)
        by_terminal: dict[str, list[acquiring.OfflineTap]] = {t: [] for t in terminals}
        for _ in range(share):
            at = opening + dt.timedelta(seconds=rng.randrange(service_seconds))
            by_terminal[rng.choice(terminals)].append(
                acquiring.OfflineTap(next(seqs), rng.choice(cards), at, {})
            )
        uploads.extend((t, taps) for t, taps in by_terminal.items() if taps)
    return uploads


def batches(
    uploads: list[tuple[str, list[acquiring.OfflineTap]]], size: int
) -> list[tuple[str, list[acquiring.OfflineTap]]]:
    out = []
    for terminal, taps in uploads:
        for begin in range(0, len(taps), size):
            out.append((terminal, taps[begin : begin + size]))
    return out


def ride_files_by_day(uploads: list[tuple[str, list[acquiring.OfflineTap]]]) -> list[str]:
    """The workload as the operator's data centre sends it: one ride file (CSV) a day with
    every validator's taps of that day, validator after validator."""
    days: dict[dt.date, list[str]] = {}
    for terminal, taps in uploads:
        lines = days.setdefault(taps[0].tapped_at.date(), [])
        lines.extend(
            f"{terminal},{t.terminal_seq},{t.card_no},{t.tapped_at.isoformat()},,,\n" for t in taps
        )
    header = ",".join(ride_files.COLUMNS) + "\n"
    return [header + "".join(lines) for _, lines in sorted(days.items())]


def upload_file(node: Node, text: str) -> list[acquiring.UploadResult]:
    """A day's ride file parsed and taken in, as by ``ykt rides upload``."""
    parsed = ride_files.parse_ride_file(text)
    results: list[acquiring.UploadResult] = []
    for group in ride_files.parts(parsed):
        with node.transaction() as session:
            taken = ride_files.upload_ride_file(session, "qd-bus", parsed, group)
        results.extend(result for _, result in taken)
    return results


def upload(
    node: Node, terminal_no: str, taps: list[acquiring.OfflineTap]
) -> acquiring.UploadResult:
    with node.transaction() as session:
        terminal = acquiring.get_terminal(session, terminal_no)
        return transit.upload_rides(session, terminal, taps, return_taps=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def open_loop(
    url: str,
    workers: list[tuple[str, bytes]],
    cards: list[str],
    rate: float,
    seconds: float,
    signed: bool,
) -> tuple[list[float], int, float]:
    """Send ``rate`` requests/s for ``seconds``, spread over ``workers`` terminals; each
    terminal sends its next request at its next scheduled time (or at once when late).
    Returns latencies in ms (from the scheduled time), the count of failed answers and the
    rate achieved."""
    latencies: list[float] = []
    failures = 0
    per_worker = rate / len(workers)
    total = int(seconds * per_worker)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    start = time.perf_counter() + 0.2

    async def terminal(index: int, number: str, private: bytes) -> None:
        nonlocal failures
        rng = random.Random(index)
        offset = index / rate  # stagger the terminals evenly
        seq = 0
        connection = KeepAliveConnection(host, int(port))
        try:
            for n in range(total):
                due = start + offset + n / per_worker
                if time.perf_counter() > start + 2 * seconds + 5:
                    failures += total - n  # the server fell too far behind: the rest are lost
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    if signed:
                        seq += 1
                        body = json.dumps(
                            {"terminal_seq": seq, "card_no": rng.choice(cards), "line": "1"}
                        ).encode()
                        path = "/api/v1/terminal/rides"
                        stamp = int(time.time())
                        headers = {
                            "Content-Type": "application/json",
                            "X-Terminal": number,
                            "X-Timestamp": str(stamp),
                            "X-Sequence": str(seq),
                            "X-Signature": acquiring.sign_request(
                                private,
                                "Ed25519",
                                terminal_no=number,
                                timestamp=stamp,
                                seq=seq,
                                method="POST",
                                path=path,
                                body=body,
                            ),
                        }
                        status, payload = await asyncio.wait_for(
                            connection.request("POST", path, body, headers), 10.0
                        )
                        ok = status == 200 and json.loads(payload)["decision"] == "approve"
                    else:
                        status, _ = await asyncio.wait_for(
                            connection.request("GET", "/api/v1/node"), 10.0
                        )
                        ok = status == 200
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    connection.close()  # a broken or stalled connection is opened again
                    ok = False
                latencies.append((time.perf_counter() - due) * 1000)
                if not ok:
                    failures += 1
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(terminal(i, number, key) for i, (number, key) in enumerate(workers)))
    elapsed = time.perf_counter() - began
    return latencies, failures, len(latencies) / elapsed


def online_phase(
    tmp: str, node: Node, cards: list[str], quick: bool, rate: float | None
) -> dict[str, Any]:
    """Serve the benchmark database over HTTP and measure routed online authorisations."""
    count, seconds, default_rate = ONLINE["quick" if quick else "full"]
    rate = rate or default_rate
    workers: list[tuple[str, bytes]] = []
    with node.transaction() as session:
        for i in range(count + 1):  # the last one warms the server up
            number = f"VAL-{i:04d}"
            _, private = acquiring.register_terminal(
                session, terminal_no=number, merchant_code="qd-bus", line=LINES[i % len(LINES)]
            )
            assert private is not None
            workers.append((number, private))
    port = free_port()
    env = {
        **os.environ,
        "YKT_DATA_DIR": tmp,
        "YKT_DATABASE_URL": node.engine.url.render_as_string(hide_password=False),
        "YKT_DEMO": "true",
    }
    log = Path(tmp) / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(YKT), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ykt serve did not come up:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v1/node", timeout=1.0).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # Warm up (policy files, statement caches) as a running service would be.
        warm, workers = workers[-1:], workers[:-1]
        asyncio.run(open_loop(url, warm, cards, 10, 1.0, False))
        asyncio.run(open_loop(url, warm, cards, 10, 1.0, True))
        cpu_before = process_cpu_s(server.pid)
        ping, ping_fail, ping_rate = asyncio.run(
            open_loop(url, workers, cards, rate, seconds, False)
        )
        cpu_between = process_cpu_s(server.pid)
        auth, auth_fail, auth_rate = asyncio.run(
            open_loop(url, workers, cards, rate, seconds, True)
        )
        cpu_after = process_cpu_s(server.pid)
    except BaseException:
        print(log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures: dict[str, Any] = {
        "rate_target": rate,
        "terminals": count,
        "seconds": seconds,
        "ping": {
            "p50_ms": round(statistics.median(ping), 2),
            "p99_ms": round(percentile(ping, 0.99), 2),
            "rate": round(ping_rate, 1),
            "failed": ping_fail,
            "server_cpu_ms_per_request": cpu_ms(cpu_before, cpu_between, len(ping)),
        },
        "authorise": {
            "p50_ms": round(statistics.median(auth), 2),
            "p99_ms": round(percentile(auth, 0.99), 2),
            "rate": round(auth_rate, 1),
            "failed": auth_fail,
            "requests": len(auth),
            "server_cpu_ms_per_request": cpu_ms(cpu_between, cpu_after, len(auth)),
        },
    }
    print(
        f"online: {len(auth)} signed ride authorisations at {auth_rate:,.0f}/s from {count} "
        f"terminals: p50 {figures['authorise']['p50_ms']} ms, p99 "
        f"{figures['authorise']['p99_ms']} ms, {auth_fail} failed "
        f"(baseline GET /api/v1/node: p50 {figures['ping']['p50_ms']} ms, "
        f"p99 {figures['ping']['p99_ms']} ms); the server spent "
        f"{figures['authorise']['server_cpu_ms_per_request']} ms of CPU per authorisation"
    )
    return figures


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds a process has used so far (Linux ``/proc``; ``None`` elsewhere). Shown
    beside the latencies: the same rate costs the server a third more CPU in a slow minute of a
    shared machine than in a fast one, and a server near a whole core queues its requests."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or not requests:
        return None
    return round((after - before) * 1000 / requests, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    parser.add_argument("--taps", type=int, help="taps for the bulk path")
    parser.add_argument(
        "--path",
        choices=("file", "terminal"),
        default="file",
        help="bulk ingestion by the operator's daily ride files, or by each validator's uploads",
    )
    parser.add_argument("--batch-size", type=int, help="taps per upload (--path terminal)")
    parser.add_argument("--rate", type=float, help="online requests per second (200; quick 50)")
    parser.add_argument("--riders", type=int, help="cards riding (10000; quick 300)")
    parser.add_argument("--days", type=int, help="days the taps are spread over (29; quick 4)")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the node's database (the 1M-taps goal is set on SQLite; PostgreSQL is what a city "
        "runs online authorisation on)",
    )
    args = parser.parse_args()
    riders, naive_n, bulk_n, batch, days = SIZES["quick" if args.quick else "full"]
    riders, days = args.riders or riders, args.days or days
    bulk_n = args.taps or bulk_n
    batch = args.batch_size or batch
    rng = random.Random(20250310)
    with tempfile.TemporaryDirectory(prefix="ykt-taps-") as tmp, contextlib.ExitStack() as stack:
        url = f"sqlite:///{tmp}/taps.db"
        if args.backend == "postgresql":
            from tests.support.pgcluster import PgCluster

            cluster = PgCluster.start()
            stack.callback(cluster.stop)
            url = cluster.create_database("bench_taps")
        settings = Settings(data_dir=Path(tmp), database_url=url, demo=True)
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

            naive_taps = workload(cards, terminals, naive_n, seqs, rng, days)
            t0 = time.perf_counter()
            for terminal, taps in naive_taps:
                for tap in taps:
                    upload(node, terminal, [tap])
            naive_s = time.perf_counter() - t0
            naive_rate = naive_n / naive_s
            print(f"naive: {naive_n} taps, one transaction each: {naive_rate:,.0f} taps/s")

            bulk_uploads = workload(cards, terminals, bulk_n, seqs, rng, days)
            bulk_batches = batches(bulk_uploads, batch)
            files = ride_files_by_day(bulk_uploads) if args.path == "file" else []
            # The workload is the depot's files, not the server's state: a server receiving the
            # uploads over HTTP never holds a million taps, so the collector is not made to walk
            # them again and again during the measurement.
            gc.freeze()
            t0 = time.perf_counter()
            results = (
                [result for text in files for result in upload_file(node, text)]
                if args.path == "file"
                else [upload(node, terminal, taps) for terminal, taps in bulk_batches]
            )
            bulk_s = time.perf_counter() - t0
            bulk_rate = bulk_n / bulk_s
            approved = sum(result.approved for result in results)
            debts = sum(result.debts for result in results)
            adjusted = sum(result.fare_adjustments for result in results)
            shape = (
                f"{len(files)} daily ride files"
                if args.path == "file"
                else f"{len(bulk_batches)} validator uploads of at most {batch}"
            )
            print(
                f"bulk:  {bulk_n} taps in {shape}: {bulk_rate:,.0f} taps/s "
                f"({bulk_s:.1f} s; {approved} approved, {debts} debts, "
                f"{adjusted} earlier-recorded rides refunded part of their fare)"
            )

            sample = bulk_batches[: max(1, len(bulk_batches) // 10)]
            t0 = time.perf_counter()
            again = sum(upload(node, terminal, taps).duplicates for terminal, taps in sample)
            resent = sum(len(taps) for _, taps in sample)
            if files:
                again += sum(result.duplicates for result in upload_file(node, files[-1]))
                resent += len(files[-1].splitlines()) - 1
            dup_s = time.perf_counter() - t0
            assert again == resent, f"{again} of {resent} re-sent taps were recognised"
            print(f"re-sent: {resent} taps all recognised as duplicates ({resent / dup_s:,.0f}/s)")

            with node.transaction() as session:
                merchant = acquiring.get_merchant(session, "qd-bus")
                charged, refunded = session.execute(
                    select(
                        func.coalesce(func.sum(Tap.amount), 0),
                        func.coalesce(func.sum(Tap.refunded), 0),
                    ).where(Tap.transfer_id.is_not(None))
                ).one()
                acquired = ledger.balance(session, merchant.acquired_account_id)
                assert int(charged) - int(refunded) == acquired, (charged, refunded, acquired)
                assert ledger.trial_balance(session).balanced
                assert acquiring.ride_days_disagreeing(session) == []
            print(
                f"check: merchant acquired {acquired} fen = charged taps less {refunded} fen "
                "of fare adjustments (补退); books balance; the cards' ride-day totals agree "
                "with the taps"
            )
        online = online_phase(tmp, node, cards, args.quick, args.rate)
        node.close()
    ratios = {
        "bulk_vs_naive": ratio(bulk_rate, naive_rate),
        "bulk_vs_goal": ratio(bulk_rate, GOALS["bulk_taps_per_s"]),
        "online_p99_vs_ping_p99": ratio(online["authorise"]["p99_ms"], online["ping"]["p99_ms"]),
        "online_p99_goal_vs_measured": ratio(GOALS["online_p99_ms"], online["authorise"]["p99_ms"]),
        "online_rate_vs_target": ratio(online["authorise"]["rate"], online["rate_target"]),
    }
    emit_json(
        {
            "benchmark": "taps",
            "ratios": ratios,
            "taps_per_s": {"naive": round(naive_rate, 1), "bulk": round(bulk_rate, 1)},
            "taps": {"naive": naive_n, "bulk": bulk_n, "batch": batch},
            "bulk_path": args.path,
            "fare_adjustments": {
                "rides": adjusted,
                "refunded_fen": int(refunded),
                "share_of_charged": round(int(refunded) / int(charged), 4) if charged else 0.0,
            },
            "goals": GOALS,
            "online": online,
            "goals_met": {
                "bulk_taps_per_s": bulk_rate >= GOALS["bulk_taps_per_s"],
                "online_p99_ms": online["authorise"]["p99_ms"] <= GOALS["online_p99_ms"]
                and online["authorise"]["rate"] >= 0.95 * online["rate_target"]
                and online["authorise"]["failed"] == 0,
            },
            "backend": args.backend,
            "peak_rss_kib": peak_rss_kib(),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
