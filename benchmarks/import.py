"""Residents imported per second from CSV (批量导入参保人) versus a naive ORM loop, with peak RSS.

The real path is ``registry.importer.import_residents`` on the embedded SQLite database; the
baseline, measured in the same run, enrols one ORM ``Resident`` per CSV row through
``registry.service.enrol_resident`` and commits each row in its own transaction. Every run is a
fresh child process with a fresh database, so each reports its own peak RSS: the real import for
N rows and for N/4 rows shows whether memory grows with the file (it must stay flat).

    .venv/bin/python benchmarks/import.py [--quick] [--rows N] [--naive-rows M]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import current_rss_kib, emit_json, machine, peak_rss_kib, ratio

ACTOR = "benchmark:import"
SEED = 2024
FULL_ROWS = 2_000_000
FULL_NAIVE_ROWS = 3_000
QUICK_ROWS = 20_000
QUICK_NAIVE_ROWS = 1_000


# --- child: one measured run in its own process -------------------------------------------------


def _open_node(data_dir: Path) -> Any:
    from yikatong import node
    from yikatong.core import migrate
    from yikatong.core.settings import Settings

    current = node.Node.open(Settings(data_dir=data_dir))
    node.set_current(current)
    migrate.upgrade(current.engine)  # the schema a deployment has, indexes included
    return current


def _run_real(csv_path: Path, batch_size: int) -> dict[str, Any]:
    from yikatong.registry.importer import import_residents

    size = csv_path.stat().st_size
    next_report = [0.1]

    def progress(bytes_read: int, rows: int) -> None:
        if bytes_read / size >= next_report[0]:
            print(f"    … {bytes_read / size:4.0%} ({rows:,} rows)", file=sys.stderr, flush=True)
            next_report[0] += 0.1

    report = import_residents(
        csv_path, actor=ACTOR, batch_size=batch_size, progress=progress if size > 50e6 else None
    )
    if report.rejected:
        first = report.rejections[0] if report.rejections else None
        print(f"    warning: {report.rejected} rows rejected, first: {first}", file=sys.stderr)
    return {"imported": report.imported, "rejected": report.rejected}


def _run_naive(csv_path: Path) -> dict[str, Any]:
    from yikatong import node
    from yikatong.core.errors import DomainError
    from yikatong.registry.importer import parse_row
    from yikatong.registry.service import enrol_resident

    current = node.current()
    imported = rejected = 0
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                # One object, one transaction, one commit per row.
                with current.transaction() as session:
                    enrol_resident(session, parse_row(row), actor=ACTOR)
                imported += 1
            except DomainError:
                rejected += 1
    return {"imported": imported, "rejected": rejected}


def child(mode: str, csv_path: Path, data_dir: Path, batch_size: int) -> None:
    """Import ``csv_path`` into a fresh database and print one JSON line of figures."""
    _open_node(data_dir)
    rss_before = peak_rss_kib()
    wall = time.perf_counter()
    cpu = time.process_time()
    counts = _run_real(csv_path, batch_size) if mode == "real" else _run_naive(csv_path)
    seconds = time.perf_counter() - wall
    cpu_seconds = time.process_time() - cpu
    print(
        json.dumps(
            {
                **counts,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "peak_rss_before_kib": rss_before,
                "peak_rss_kib": peak_rss_kib(),
                "rss_end_kib": current_rss_kib(),
                "db_bytes": sum(p.stat().st_size for p in data_dir.glob("yikatong.db*")),
            }
        )
    )


# --- parent: data, runs, report -------------------------------------------------------------------


def write_prefix(source: Path, target: Path, rows: int) -> int:
    """The header and the first ``rows`` data lines of ``source`` (no quoted newlines in it)."""
    written = 0
    with source.open("rb") as src, target.open("wb") as dst:
        for line in itertools.islice(src, rows + 1):
            dst.write(line)
            written += 1
    return written - 1


def run_child(mode: str, csv_path: Path, work: Path, name: str, batch_size: int) -> dict[str, Any]:
    data_dir = work / name
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--csv",
        str(csv_path),
        "--data-dir",
        str(data_dir),
        "--batch-size",
        str(batch_size),
    ]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = result["imported"] + result["rejected"]
    result["rows"] = rows
    result["rows_per_s"] = round(rows / result["seconds"], 1)
    result["rows_per_cpu_s"] = round(rows / result["cpu_seconds"], 1)
    result["seconds"] = round(result["seconds"], 3)
    result["cpu_seconds"] = round(result["cpu_seconds"], 3)
    for path in data_dir.glob("yikatong.db*"):  # a 2M-row database is a gigabyte or so
        path.unlink()
    return result


def describe(label: str, run: dict[str, Any]) -> str:
    return (
        f"  {label:<22} {run['rows']:>9,} rows in {run['seconds']:8.2f} s = "
        f"{run['rows_per_s']:9.1f} rows/s   peak RSS {run['peak_rss_kib'] / 1024:6.1f} MiB "
        f"(before import {run['peak_rss_before_kib'] / 1024:5.1f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows (< 30 s)")
    parser.add_argument("--rows", type=int, default=None, help=f"default {FULL_ROWS:,}")
    parser.add_argument("--naive-rows", type=int, default=None, help="rows for the baseline")
    parser.add_argument("--batch-size", type=int, default=None, help="importer batch size")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the CSV and DBs go")
    parser.add_argument("--child", choices=("real", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from yikatong.registry.importer import DEFAULT_BATCH

    batch_size = args.batch_size or DEFAULT_BATCH
    if args.child:
        child(args.child, args.csv, args.data_dir, batch_size)
        return

    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    naive_rows = min(args.naive_rows or (QUICK_NAIVE_ROWS if args.quick else FULL_NAIVE_ROWS), rows)
    small_rows = max(rows // 4, 1)
    from yikatong.demo.residents import write_csv

    print(f"resident CSV import, embedded SQLite, batch size {batch_size}, seed {args.seed}")
    with tempfile.TemporaryDirectory(prefix="ykt-bench-import-", dir=args.tmpdir) as tmp:
        work = Path(tmp)
        full_csv = work / "residents.csv"
        started = time.perf_counter()
        write_csv(full_csv, rows, args.seed)
        generated = time.perf_counter() - started
        print(
            f"  generated {rows:,} synthetic residents in {generated:.1f} s "
            f"({full_csv.stat().st_size / 2**20:.0f} MiB)"
        )
        small_csv = work / "residents-quarter.csv"
        naive_csv = work / "residents-naive.csv"
        write_prefix(full_csv, small_csv, small_rows)
        write_prefix(full_csv, naive_csv, naive_rows)

        naive = run_child("naive", naive_csv, work, "naive", batch_size)
        print(describe("naive ORM loop", naive))
        small = run_child("real", small_csv, work, "real-quarter", batch_size)
        print(describe("import_residents N/4", small))
        full = run_child("real", full_csv, work, "real", batch_size)
        print(describe("import_residents N", full))

    ratios = {
        "import_vs_naive": ratio(full["rows_per_s"], naive["rows_per_s"]),
        "import_vs_naive_cpu": ratio(full["rows_per_cpu_s"], naive["rows_per_cpu_s"]),
        # ~1.0 when memory does not grow with the file.
        "peak_rss_n_vs_quarter": ratio(full["peak_rss_kib"], small["peak_rss_kib"]),
        "rows_per_s_n_vs_quarter": ratio(full["rows_per_s"], small["rows_per_s"]),
    }
    growth_kib = (full["peak_rss_kib"] - full["peak_rss_before_kib"]) - (
        small["peak_rss_kib"] - small["peak_rss_before_kib"]
    )
    print(
        f"  import is {ratios['import_vs_naive']}x the naive loop; peak RSS N vs N/4: "
        f"{ratios['peak_rss_n_vs_quarter']} ({growth_kib / 1024:+.1f} MiB during import)"
    )
    emit_json(
        {
            "benchmark": "import",
            "quick": args.quick,
            "rows": rows,
            "naive_rows": naive_rows,
            "batch_size": batch_size,
            "ratios": ratios,
            "rows_per_s": {
                "import": full["rows_per_s"],
                "import_quarter": small["rows_per_s"],
                "naive": naive["rows_per_s"],
            },
            "peak_rss_kib": {
                "import": full["peak_rss_kib"],
                "import_quarter": small["peak_rss_kib"],
                "naive": naive["peak_rss_kib"],
            },
            "runs": {"import": full, "import_quarter": small, "naive": naive},
            "generate_seconds": round(generated, 2),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
