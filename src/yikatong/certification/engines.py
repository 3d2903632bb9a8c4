"""Run :data:`rules.RULES_SQL` on DuckDB (default) or PySpark (local mode) over Parquet.

Both engines read the same inputs (``retirees`` and ``evidence`` Parquet files or folders), get
the same ``evidence_kind`` table and the same rendered SQL, and their results are brought to one
Arrow schema (:data:`RESULT_SCHEMA`) sorted by resident, so they can be compared row for row.
The engines are imported only when a job runs: the API and the rest of the CLI never load them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from yikatong.certification import rules
from yikatong.core.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")


@dataclass(frozen=True, slots=True)
class RuleInputs:
    """Where the job reads: a Parquet file or a folder of Parquet files, each."""

    retirees: Path
    evidence: Path


def result_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("resident_id", pa.int64()),
            ("district_code", pa.string()),
            ("status", pa.string()),
            ("stage", pa.string()),
            ("last_positive_on", pa.date32()),
            ("last_kind", pa.string()),
            ("last_channel", pa.string()),
            ("negative_kind", pa.string()),
            ("negative_on", pa.date32()),
        ]
    )


def _kind_values() -> str:
    rows = ", ".join(
        f"({code}, '{name}', '{polarity}', '{channel}', {rank})"
        for code, name, polarity, channel, rank in rules.kind_rows()
    )
    return f"SELECT * FROM (VALUES {rows}) AS t(kind, name, polarity, channel, rank)"


def _check_inputs(inputs: RuleInputs) -> None:
    for name, path in (("retirees", inputs.retirees), ("evidence", inputs.evidence)):
        if not path.exists():
            raise InvalidInput(f"the {name} input {path} does not exist", field=name)


def _normalise(table: pa.Table) -> pa.Table:
    schema = result_schema()
    table = table.select(list(rules.RESULT_COLUMNS)).cast(schema)
    return table.sort_by([("resident_id", "ascending")])


def _parquet_glob(path: Path) -> str:
    target = str(path / "*.parquet") if path.is_dir() else str(path)
    return target.replace("'", "''")


def run_duckdb(
    inputs: RuleInputs, thresholds: rules.Thresholds, *, threads: int | None = None
) -> pa.Table:
    """The rules on an in-process DuckDB reading the Parquet inputs directly."""
    import duckdb

    _check_inputs(inputs)
    with duckdb.connect() as con:
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            "CREATE VIEW retirees AS SELECT CAST(resident_id AS BIGINT) AS resident_id, "
            "CAST(district_code AS VARCHAR) AS district_code "
            f"FROM read_parquet('{_parquet_glob(inputs.retirees)}')"
        )
        con.execute(
            "CREATE VIEW evidence AS SELECT resident_id, kind, occurred_on "
            f"FROM read_parquet('{_parquet_glob(inputs.evidence)}')"
        )
        con.execute(f"CREATE TABLE evidence_kind AS {_kind_values()}")
        table = con.sql(rules.render(thresholds)).to_arrow_table()
    return _normalise(table)


_spark: Any = None


def spark_session() -> Any:
    """One local PySpark session per process (``local[2]``: the machine has two cores)."""
    global _spark
    if _spark is None:
        os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-memory 4g pyspark-shell")
        # Local mode talks to itself only: bind the driver to the loopback interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        _spark = (
            SparkSession.builder.master(os.environ.get("YKT_SPARK_MASTER", "local[2]"))
            .appName("ykt-certification")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "4g")
            .getOrCreate()
        )
        _spark.sparkContext.setLogLevel("ERROR")
    return _spark


def run_spark(inputs: RuleInputs, thresholds: rules.Thresholds) -> pa.Table:
    """The same SQL on PySpark; the result is written as Parquet and read back with Arrow."""
    import pyarrow.parquet as pq

    _check_inputs(inputs)
    spark = spark_session()
    spark.read.parquet(str(inputs.retirees)).selectExpr(
        "CAST(resident_id AS BIGINT) AS resident_id",
        "CAST(district_code AS STRING) AS district_code",
    ).createOrReplaceTempView("retirees")
    spark.read.parquet(str(inputs.evidence)).createOrReplaceTempView("evidence")
    spark.sql(_kind_values()).createOrReplaceTempView("evidence_kind")
    with tempfile.TemporaryDirectory(prefix="ykt-spark-") as scratch:
        out = Path(scratch) / "result"
        spark.sql(rules.render(thresholds)).write.mode("overwrite").parquet(str(out))
        table = pq.read_table(out)
    return _normalise(table)


def run(engine: Engine, inputs: RuleInputs, thresholds: rules.Thresholds) -> pa.Table:
    if engine == "duckdb":
        return run_duckdb(inputs, thresholds)
    if engine == "spark":
        return run_spark(inputs, thresholds)
    raise InvalidInput(f"unknown engine {engine!r}; use duckdb or spark", field="engine")
