"""Pension qualification certification (资格认证): retirees × evidence events, three engines.

One synthetic data set (``certification.synth``, Parquet), the same as-of day and rules, timed:

- ``duckdb``: ``engines.run_duckdb`` (the default engine), the rules SQL over the Parquet files;
- ``spark``: ``engines.run_spark``, the same SQL on PySpark ``local[2]`` (session start-up
  excluded: it is paid once per process);
- ``naive``: the baseline, a straightforward pandas/Python implementation: read the events into
  a DataFrame, then decide each retiree in a Python loop over ``groupby``.

All three must give the same decision for every retiree (checked); ratios are against ``naive``.
The goal: DuckDB ≥ 10× the naive implementation.

    .venv/bin/python benchmarks/certification.py [--quick] [--retirees N] [--events N] [--[no-]spark]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit_json, machine, peak_rss_kib, ratio

from yikatong.certification import engines, rules, synth

AS_OF = dt.date(2025, 6, 30)
GOAL_DUCKDB_VS_NAIVE = 10.0
SIZES = {"quick": (20_000, 1_000_000), "full": (400_000, 100_000_000)}


def naive(inputs: engines.RuleInputs, thresholds: rules.Thresholds) -> list[tuple[Any, ...]]:
    """The rules written the obvious way in pandas and Python, one retiree at a time."""
    import pandas as pd

    retirees = pd.read_parquet(inputs.retirees)
    events = pd.read_parquet(inputs.evidence)
    limit: Any = thresholds.as_of
    if events["occurred_on"].dtype != object:  # datetime64 columns compare with a Timestamp
        limit = pd.Timestamp(thresholds.as_of)
    events = events[events["occurred_on"] <= limit]
    kinds = rules.KIND_BY_CODE
    decided: dict[int, tuple[Any, ...]] = {}
    for resident_id, group in events.groupby("resident_id", sort=False):
        best_pos: tuple[dt.date, int, rules.EvidenceKind] | None = None
        best_neg: tuple[int, dt.date, rules.EvidenceKind] | None = None
        for code, when in zip(group["kind"], group["occurred_on"], strict=True):
            kind = kinds[int(code)]
            day = when.date() if hasattr(when, "date") else when
            if kind.polarity == "positive":
                if best_pos is None or (day, -kind.rank) > (best_pos[0], -best_pos[1]):
                    best_pos = (day, kind.rank, kind)
            else:
                candidate = (kind.rank, day, kind)
                if (
                    best_neg is None
                    or kind.rank < best_neg[0]
                    or (kind.rank == best_neg[0] and day > best_neg[1])
                ):
                    best_neg = candidate
        decided[int(resident_id)] = _decide(best_pos, best_neg, thresholds)
    rows = []
    for resident_id, district in zip(
        retirees["resident_id"], retirees["district_code"], strict=True
    ):
        status, stage, last, last_kind, channel, neg_kind, neg_on = decided.get(
            int(resident_id), _decide(None, None, thresholds)
        )
        rows.append(
            (
                int(resident_id),
                str(district),
                status,
                stage,
                last,
                last_kind,
                channel,
                neg_kind,
                neg_on,
            )
        )
    rows.sort(key=lambda r: r[0])
    return rows


def _decide(
    pos: tuple[dt.date, int, rules.EvidenceKind] | None,
    neg: tuple[int, dt.date, rules.EvidenceKind] | None,
    t: rules.Thresholds,
) -> tuple[Any, ...]:
    last = pos[0] if pos else None
    last_kind = pos[2].name if pos else None
    channel = pos[2].channel if pos else None
    if neg is not None:
        return ("negative", None, last, last_kind, channel, neg[2].name, neg[1])
    if last is None or last <= t.suspend_from:
        status = "suspend"
    elif last <= t.fallback_from:
        status = "fallback"
    else:
        status = "certified"
    if last is None or last <= t.home_visit_from:
        stage: str | None = "home_visit"
    elif last <= t.service_point_from:
        stage = "service_point"
    elif last <= t.fallback_from:
        stage = "app_face"
    else:
        stage = None
    return (status, stage, last, last_kind, channel, None, None)


def _rows(table: Any) -> list[tuple[Any, ...]]:
    columns = [table.column(name).to_pylist() for name in rules.RESULT_COLUMNS]
    return list(zip(*columns, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, no Spark (< 30 s)")
    parser.add_argument("--retirees", type=int, help="retirees to generate")
    parser.add_argument("--events", type=int, help="evidence events to generate")
    parser.add_argument(
        "--spark",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time PySpark too (default: yes, but not with --quick: its start-up alone is ~30 s)",
    )
    parser.add_argument("--out", type=Path, help="keep the generated data here")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    retirees, events = SIZES[mode]
    retirees = args.retirees or retirees
    events = args.events or events
    thresholds = rules.Thresholds.of(AS_OF, rules.RuleParameters())

    with tempfile.TemporaryDirectory(prefix="ykt-bench-cert-") as scratch:
        root = args.out or Path(scratch)
        start = time.perf_counter()
        summary = synth.generate(root, retirees=retirees, events=events, as_of=AS_OF)
        generate_s = time.perf_counter() - start
        print(
            f"generate  {summary.events:,} events for {retirees:,} retirees in {generate_s:.1f} s"
        )
        inputs = engines.RuleInputs(root / "retirees", root / "evidence")

        start = time.perf_counter()
        duck = engines.run_duckdb(inputs, thresholds)
        duck_s = time.perf_counter() - start
        print(f"duckdb    {duck_s:8.2f} s  {summary.events / duck_s:>14,.0f} events/s")
        reference = _rows(duck)
        del duck

        spark_s: float | None = None
        if args.spark if args.spark is not None else not args.quick:
            engines.spark_session()  # start-up is paid once per process, not per run
            start = time.perf_counter()
            spark = engines.run_spark(inputs, thresholds)
            spark_s = time.perf_counter() - start
            print(f"spark     {spark_s:8.2f} s  {summary.events / spark_s:>14,.0f} events/s")
            assert _rows(spark) == reference, "Spark and DuckDB disagree"
            del spark

        start = time.perf_counter()
        slow = naive(inputs, thresholds)
        naive_s = time.perf_counter() - start
        print(f"naive     {naive_s:8.2f} s  {summary.events / naive_s:>14,.0f} events/s")
        assert slow == reference, "the naive implementation and DuckDB disagree"

    duck_vs_naive = ratio(naive_s, duck_s)
    print(f"duckdb is {duck_vs_naive}× the naive implementation (goal ≥{GOAL_DUCKDB_VS_NAIVE}×)")
    emit_json(
        {
            "benchmark": "certification",
            "ratios": {
                "duckdb_vs_naive": duck_vs_naive,
                "spark_vs_naive": ratio(naive_s, spark_s),
                "duckdb_vs_spark": ratio(spark_s, duck_s),
            },
            "mode": mode,
            "retirees": retirees,
            "events": summary.events,
            "seconds": {
                "generate": round(generate_s, 2),
                "duckdb": round(duck_s, 2),
                "spark": round(spark_s, 2) if spark_s is not None else None,
                "naive": round(naive_s, 2),
            },
            "goal_duckdb_vs_naive": GOAL_DUCKDB_VS_NAIVE,
            "goal_met": (duck_vs_naive or 0) >= GOAL_DUCKDB_VS_NAIVE,
            "identical_results": True,
            "peak_rss_kib": peak_rss_kib(),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
