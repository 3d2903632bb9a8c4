"""Deterministic synthetic retirees and evidence events for the certification job (scale tests).

Writes ``retirees/part-NNNNN.parquet`` (resident_id, district_code) and
``evidence/part-NNNNN.parquet`` (resident_id, kind, occurred_on), the inputs of
:mod:`engines`, chunk by chunk with numpy and pyarrow so memory stays flat whatever the size.
The same arguments give the same files: each chunk draws from its own generator seeded with
(seed, chunk number).

Mix (Qingdao-like): most retirees ride, eat at canteens, see doctors all year; about 3% showed
nothing for 10–12 months (fallback channels), 2% nothing for over a year (suspension), 1% never
anything after enrolment, 0.5% died in the last year, 0.1% each imprisoned or emigrated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from yikatong.certification import rules
from yikatong.core.errors import InvalidInput

# Qingdao's districts and county-level cities (GB/T 2260).
DISTRICTS = (
    "370202",
    "370203",
    "370211",
    "370212",
    "370213",
    "370214",
    "370215",
    "370281",
    "370283",
    "370285",
)
# Silent evidence kinds and their share of events.
_SILENT = (
    ("transit_tap", 0.55),
    ("canteen_meal", 0.15),
    ("medical_settlement", 0.12),
    ("venue_entry", 0.06),
    ("benefit_receipt", 0.06),
    ("hospital_admission", 0.03),
    ("travel_check", 0.03),
)
EVENTS_PER_CHUNK = 16_000_000
_EPOCH = dt.date(1970, 1, 1)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SynthSummary:
    retirees: int
    events: int
    chunks: int
    directory: Path


def generate(
    out: Path,
    *,
    retirees: int,
    events: int,
    as_of: dt.date,
    seed: int = 2025,
    file_format: str = "parquet",
    progress: Progress | None = None,
) -> SynthSummary:
    """Write ``retirees`` retirees and about ``events`` evidence events under ``out``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if retirees < 1 or retirees > 50_000_000:
        raise InvalidInput("retirees is 1–50,000,000", field="retirees")
    if events < 0 or events > 5_000_000_000:
        raise InvalidInput("events is 0–5,000,000,000", field="events")
    if file_format not in ("parquet", "csv"):
        raise InvalidInput("the format is parquet or csv", field="format")
    per_retiree = events / retirees
    chunk_size = max(1, min(retirees, int(EVENTS_PER_CHUNK / max(per_retiree, 1.0))))
    chunks = (retirees + chunk_size - 1) // chunk_size
    (out / "retirees").mkdir(parents=True, exist_ok=True)
    (out / "evidence").mkdir(parents=True, exist_ok=True)
    codes = np.array([rules.KIND_BY_NAME[name].code for name, _ in _SILENT], dtype=np.int16)
    weights = np.array([share for _, share in _SILENT])
    weights = weights / weights.sum()
    as_of_day = (as_of - _EPOCH).days
    district_codes = pa.array(DISTRICTS, pa.string())
    written = 0

    def write(table: pa.Table, path: Path) -> None:
        if file_format == "parquet":
            pq.write_table(table, path.with_suffix(".parquet"), compression="zstd")
        else:
            pacsv.write_csv(table, path.with_suffix(".csv"))

    for chunk in range(chunks):
        rng = np.random.Generator(np.random.PCG64([seed, chunk]))
        first = chunk * chunk_size + 1
        n = min(chunk_size, retirees - first + 1)
        ids = np.arange(first, first + n, dtype=np.int64)
        district = rng.integers(0, len(DISTRICTS), n)
        write(
            pa.table({"resident_id": ids, "district_code": district_codes.take(district)}),
            out / "retirees" / f"part-{chunk:05d}",
        )
        profile = rng.random(n)
        dead = profile < 0.005
        jailed = (profile >= 0.005) & (profile < 0.006)
        emigrated = (profile >= 0.006) & (profile < 0.007)
        never = (profile >= 0.007) & (profile < 0.017)
        faded = (profile >= 0.017) & (profile < 0.037)
        late = (profile >= 0.037) & (profile < 0.067)
        # Events per retiree: Poisson around the mean, fewer for the quiet ones, none for "never".
        counts = rng.poisson(per_retiree, n)
        counts[never] = 0
        counts[faded | late] = np.minimum(counts[faded | late], 12)
        total = int(counts.sum())
        owner = np.repeat(np.arange(n), counts)
        # Days back from as_of: all year round; 365–540 for the faded, 300–364 for the late.
        back = rng.integers(0, 450, total)
        owner_faded, owner_late = faded[owner], late[owner]
        back[owner_faded] = rng.integers(365, 540, int(owner_faded.sum()))
        back[owner_late] = rng.integers(300, 365, int(owner_late.sum()))
        kinds = codes[rng.choice(len(codes), total, p=weights)]
        # Enrolment (in person) 1–20 years back, and the negative events of this chunk.
        enrol_back = rng.integers(365, 365 * 20, n)
        negative = dead | jailed | emigrated
        neg_kind = np.where(
            dead,
            rules.KIND_BY_NAME["death"].code,
            np.where(
                jailed,
                rules.KIND_BY_NAME["imprisonment"].code,
                rules.KIND_BY_NAME["emigration"].code,
            ),
        ).astype(np.int16)[negative]
        neg_back = rng.integers(0, 365, int(negative.sum()))
        resident = np.concatenate([ids[owner], ids, ids[negative]])
        kind = np.concatenate([kinds, np.full(n, rules.KIND_BY_NAME["enrolment"].code), neg_kind])
        day = as_of_day - np.concatenate([back, enrol_back, neg_back])
        table = pa.table(
            {
                "resident_id": pa.array(resident, pa.int64()),
                "kind": pa.array(kind.astype(np.int16), pa.int16()),
                "occurred_on": pa.array(day.astype(np.int32), pa.int32()).cast(pa.date32()),
            }
        )
        write(table, out / "evidence" / f"part-{chunk:05d}")
        written += table.num_rows
        del table, resident, kind, day, back, owner
        if progress is not None:
            progress(chunk + 1, chunks)
    return SynthSummary(retirees, written, chunks, out)
