"""The certification rules (one SQL text), each pinned on DuckDB and on PySpark.

Every test writes a few retirees and events as Parquet, runs ``rules.RULES_SQL`` on both engines
and checks the decision; the two engines must also agree row for row.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from yikatong.certification import engines, rules, synth

AS_OF = dt.date(2025, 3, 10)
CODE = {k.name: k.code for k in rules.KINDS}


def _inputs(
    tmp_path: Path, events: list[tuple[int, str, dt.date]], retirees: int
) -> engines.RuleInputs:
    pq.write_table(
        pa.table(
            {
                "resident_id": pa.array(range(1, retirees + 1), pa.int64()),
                "district_code": pa.array(["370202"] * retirees, pa.string()),
            }
        ),
        tmp_path / "retirees.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "resident_id": pa.array([e[0] for e in events], pa.int64()),
                "kind": pa.array([CODE[e[1]] for e in events], pa.int16()),
                "occurred_on": pa.array([e[2] for e in events], pa.date32()),
            }
        ),
        tmp_path / "evidence.parquet",
    )
    return engines.RuleInputs(tmp_path / "retirees.parquet", tmp_path / "evidence.parquet")


def decide(
    tmp_path: Path,
    events: list[tuple[int, str, dt.date]],
    *,
    retirees: int,
    rule: rules.RuleParameters | None = None,
    as_of: dt.date = AS_OF,
) -> dict[int, dict[str, Any]]:
    """The decision per retiree; both engines must reach exactly the same one."""
    inputs = _inputs(tmp_path, events, retirees)
    thresholds = rules.Thresholds.of(as_of, rule or rules.RuleParameters())
    duck = engines.run_duckdb(inputs, thresholds)
    spark = engines.run_spark(inputs, thresholds)
    assert duck.equals(spark), (duck.to_pylist(), spark.to_pylist())
    return {row["resident_id"]: row for row in duck.to_pylist()}


# No lead time and no grace: the 12-month window alone decides certified or suspended.
WINDOW_ONLY = rules.RuleParameters(lead_days=0, app_face_days=0, service_point_days=0, grace_days=0)


def test_evidence_exactly_twelve_months_old_no_longer_certifies(tmp_path: Path) -> None:
    twelve_months_ago = dt.date(2024, 3, 10)
    rows = decide(
        tmp_path,
        [
            (1, "transit_tap", twelve_months_ago),
            (2, "transit_tap", twelve_months_ago + dt.timedelta(days=1)),
        ],
        retirees=2,
        rule=WINDOW_ONLY,
    )
    assert rows[1]["status"] == "suspend"
    assert rows[2]["status"] == "certified"
    assert rules.valid_until(twelve_months_ago, WINDOW_ONLY) == AS_OF


def test_evidence_after_the_as_of_day_is_ignored(tmp_path: Path) -> None:
    rows = decide(
        tmp_path,
        [(1, "medical_settlement", AS_OF + dt.timedelta(days=1))],
        retirees=1,
        rule=WINDOW_ONLY,
    )
    assert rows[1]["status"] == "suspend" and rows[1]["last_positive_on"] is None


def test_the_window_ends_on_the_last_day_of_a_shorter_month() -> None:
    # 29 Feb 2024 + 12 months = 28 Feb 2025 (clamped), as both engines are given it.
    assert rules.valid_until(dt.date(2024, 2, 29), rules.RuleParameters()) == dt.date(2025, 2, 28)
    assert rules.Thresholds.of(dt.date(2025, 3, 31), WINDOW_ONLY).expired_from == dt.date(
        2024, 3, 31
    )


def test_negative_evidence_wins_over_fresh_positive_evidence(tmp_path: Path) -> None:
    died = dt.date(2025, 1, 20)
    rows = decide(
        tmp_path,
        [
            (1, "transit_tap", dt.date(2025, 3, 1)),  # the card still rides: not proof of life
            (1, "death", died),
            (2, "emigration", dt.date(2024, 6, 1)),
            (2, "imprisonment", dt.date(2024, 9, 1)),
            (3, "imprisonment", AS_OF + dt.timedelta(days=3)),  # not yet
            (3, "canteen_meal", dt.date(2025, 3, 9)),
        ],
        retirees=3,
    )
    assert (rows[1]["status"], rows[1]["negative_kind"], rows[1]["negative_on"]) == (
        "negative",
        "death",
        died,
    )
    assert rows[1]["stage"] is None
    # death before imprisonment before emigration when several are reported
    assert (rows[2]["negative_kind"], rows[2]["negative_on"]) == (
        "imprisonment",
        dt.date(2024, 9, 1),
    )
    assert rows[3]["status"] == "certified"


def test_fallback_channels_come_in_order_app_service_point_home_visit(tmp_path: Path) -> None:
    rule = rules.RuleParameters()  # lead 60 days, 20 at the app, 20 at a service point
    t = rules.Thresholds.of(AS_OF, rule)
    rows = decide(
        tmp_path,
        [
            (1, "transit_tap", t.fallback_from + dt.timedelta(days=1)),  # not yet due
            (2, "transit_tap", t.fallback_from),  # due: first the app face check
            (3, "transit_tap", t.service_point_from + dt.timedelta(days=1)),
            (4, "transit_tap", t.service_point_from),  # 20 days on: a service point
            (5, "transit_tap", t.home_visit_from + dt.timedelta(days=1)),
            (6, "transit_tap", t.home_visit_from),  # 40 days on: a home visit
            (7, "transit_tap", t.suspend_from + dt.timedelta(days=1)),  # expired, in grace
            (8, "transit_tap", t.suspend_from),  # past the deadline: suspended
        ],
        retirees=9,  # the ninth has no evidence at all
    )
    got = {rid: (row["status"], row["stage"]) for rid, row in rows.items()}
    assert got == {
        1: ("certified", None),
        2: ("fallback", "app_face"),
        3: ("fallback", "app_face"),
        4: ("fallback", "service_point"),
        5: ("fallback", "service_point"),
        6: ("fallback", "home_visit"),
        7: ("fallback", "home_visit"),
        8: ("suspend", "home_visit"),
        9: ("suspend", "home_visit"),
    }
    assert (t.fallback_from, t.service_point_from, t.home_visit_from, t.suspend_from) == (
        dt.date(2024, 5, 9),
        dt.date(2024, 4, 19),
        dt.date(2024, 3, 30),
        dt.date(2024, 2, 8),
    )


def test_the_channel_is_the_strongest_evidence_of_the_last_day(tmp_path: Path) -> None:
    day = dt.date(2025, 2, 1)
    rows = decide(
        tmp_path,
        [
            (1, "transit_tap", day),
            (1, "service_point", day),
            (1, "medical_settlement", day - dt.timedelta(days=1)),
            (2, "transit_tap", day),
            (2, "app_face", day - dt.timedelta(days=3)),
        ],
        retirees=2,
    )
    assert (rows[1]["last_kind"], rows[1]["last_channel"]) == ("service_point", "service_point")
    assert (rows[2]["last_kind"], rows[2]["last_channel"]) == ("transit_tap", "silent")


def test_duckdb_and_spark_agree_on_generated_data(tmp_path: Path) -> None:
    as_of = dt.date(2025, 6, 30)
    summary = synth.generate(tmp_path / "synth", retirees=3000, events=300_000, as_of=as_of)
    assert summary.retirees == 3000
    inputs = engines.RuleInputs(tmp_path / "synth" / "retirees", tmp_path / "synth" / "evidence")
    thresholds = rules.Thresholds.of(as_of, rules.RuleParameters())
    duck = engines.run_duckdb(inputs, thresholds)
    spark = engines.run_spark(inputs, thresholds)
    assert duck.num_rows == 3000
    assert duck.equals(spark)
    statuses = set(duck.column("status").to_pylist())
    assert statuses == {"certified", "fallback", "suspend", "negative"}


def test_the_generator_is_deterministic(tmp_path: Path) -> None:
    as_of = dt.date(2025, 6, 30)
    for name in ("a", "b"):
        synth.generate(tmp_path / name, retirees=500, events=20_000, as_of=as_of, seed=7)
    for part in ("retirees", "evidence"):
        a = pq.read_table(tmp_path / "a" / part)
        b = pq.read_table(tmp_path / "b" / part)
        assert a.equals(b)
    other = synth.generate(tmp_path / "c", retirees=500, events=20_000, as_of=as_of, seed=8)
    assert not pq.read_table(tmp_path / "c" / "evidence").equals(
        pq.read_table(tmp_path / "a" / "evidence")
    )
    assert other.events > 500


def test_a_missing_input_is_refused(tmp_path: Path) -> None:
    from yikatong.core.errors import InvalidInput

    inputs = engines.RuleInputs(tmp_path / "nope.parquet", tmp_path / "nope2.parquet")
    with pytest.raises(InvalidInput, match="does not exist"):
        engines.run_duckdb(inputs, rules.Thresholds.of(AS_OF, rules.RuleParameters()))
