"""Bulk import of residents from CSV (批量导入参保人).

The file is streamed (memory stays flat for millions of rows), every row is checked by the same
rules as a single enrolment, good rows are inserted in batches of a few thousand per transaction
and bad rows are reported with their line number and reason, also into ``<file>.rejected.csv``.
Duplicates are found against the database batch by batch: earlier batches are already committed,
so a number repeated anywhere in the file is caught without holding every number in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from yikatong import node
from yikatong.core import clock
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.crypto.keyring import DataKeys
from yikatong.registry.models import Resident
from yikatong.registry.service import ResidentInput, resident_row, validate_resident

COLUMNS: tuple[str, ...] = (
    "id_number",
    "name",
    "phone",
    "address",
    "district_code",
    "household_no",
    "bank_account",
    "disabled",
    "veteran",
    "student",
    "low_income",
)
FLAG_COLUMNS = ("disabled", "veteran", "student", "low_income")
_TRUE = frozenset({"1", "true", "yes", "y", "t", "是"})
_FALSE = frozenset({"", "0", "false", "no", "n", "f", "否"})
DEFAULT_BATCH = 5000
# Rejections kept in memory for the report; all of them go to the rejected file.
REPORT_REJECTIONS = 1000


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected_path: Path | None = None

    @property
    def rows(self) -> int:
        return self.imported + self.rejected


ProgressCallback = Callable[[int, int], None]
"""Called after each batch with (bytes read so far, rows handled so far)."""


def parse_flag(value: str | None, column: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{column} must be 1/0, true/false or yes/no, got {value!r}", field=column)


def parse_row(row: Mapping[str, str | None]) -> ResidentInput:
    """One CSV row → a :class:`ResidentInput`; empty optional cells mean "not given"."""

    def text(column: str) -> str | None:
        value = row.get(column)
        if value is None:
            return None
        value = value.strip()
        return value or None

    flags = {column: parse_flag(row.get(column), column) for column in FLAG_COLUMNS}
    try:
        return ResidentInput(
            id_number=text("id_number") or "",
            name=text("name") or "",
            phone=text("phone"),
            address=text("address"),
            district_code=text("district_code") or "",
            household_no=text("household_no"),
            bank_account=text("bank_account"),
            **flags,
        )
    except ValidationError as exc:  # only type errors reach here: every column is text
        first = exc.errors()[0]
        raise InvalidInput(str(first["msg"]), field=str(first["loc"][0])) from None


def check_header(header: Iterable[str] | None) -> list[str]:
    """The header's column names; raises when a required column is missing (file unusable)."""
    names = [name.strip().lstrip("\ufeff") for name in (header or [])]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        raise InvalidInput(
            f"the CSV header lacks the column(s) {', '.join(missing)}; the first line must name "
            f"{','.join(COLUMNS)}",
            field="header",
        )
    return names


class _LineSource:
    """Decoded lines of a binary file, counting bytes for progress; undecodable lines noted."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.bytes_read = 0
        self.undecodable: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for number, raw in enumerate(self.handle, start=1):
            self.bytes_read += len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.undecodable.add(number)
                text = raw.decode("utf-8", errors="replace")
            yield text.lstrip("\ufeff") if number == 1 else text


def _existing_hashes(session: Session, hashes: list[str]) -> set[str]:
    found: set[str] = set()
    # Stay well under SQLite's bound-parameter limit.
    for start in range(0, len(hashes), 900):
        chunk = hashes[start : start + 900]
        found.update(session.scalars(select(Resident.id_hash).where(Resident.id_hash.in_(chunk))))
    return found


class _Importer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        report: ImportReport,
        rejected_writer: Any,
        *,
        actor: str,
        keys: DataKeys,
    ) -> None:
        self.sessions = sessions
        self.report = report
        self.rejected_writer = rejected_writer
        self.actor = actor
        self.keys = keys

    def reject(self, line: int, field: str, reason: str, raw: Iterable[str]) -> None:
        self.report.rejected += 1
        if len(self.report.rejections) < REPORT_REJECTIONS:
            self.report.rejections.append(Rejection(line, field, reason))
        self.rejected_writer.writerow([line, field, reason, *raw])

    def flush(self, batch: list[tuple[int, dict[str, Any], list[str]]]) -> None:
        """Insert a batch in one transaction, skipping numbers that are already registered."""
        if not batch:
            return
        with self.sessions() as session, session.begin():
            existing = _existing_hashes(session, [row["id_hash"] for _, row, _ in batch])
            fresh: list[dict[str, Any]] = []
            for line, row, raw in batch:
                if row["id_hash"] in existing:
                    self.reject(line, "id_number", "a resident with this ID number exists", raw)
                else:
                    fresh.append(row)
            try:
                with session.begin_nested():
                    if fresh:
                        # render_nulls keeps rows with and without a phone in one statement.
                        session.execute(
                            insert(Resident).execution_options(render_nulls=True), fresh
                        )
            except IntegrityError:
                # Someone enrolled one of these people meanwhile: fall back to row by row.
                fresh = self._insert_one_by_one(session, batch, existing)
        self.report.imported += len(fresh)

    def _insert_one_by_one(
        self,
        session: Session,
        batch: list[tuple[int, dict[str, Any], list[str]]],
        existing: set[str],
    ) -> list[dict[str, Any]]:
        inserted: list[dict[str, Any]] = []
        for line, row, raw in batch:
            if row["id_hash"] in existing:
                continue
            try:
                with session.begin_nested():
                    session.execute(insert(Resident), [row])
                inserted.append(row)
            except IntegrityError:
                self.reject(line, "id_number", "a resident with this ID number exists", raw)
        return inserted


def import_residents(
    path: Path,
    *,
    actor: str,
    sessions: sessionmaker[Session] | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: ProgressCallback | None = None,
    rejected_path: Path | None = None,
) -> ImportReport:
    """Import residents from a CSV file (header: :data:`COLUMNS`, UTF-8).

    Raises :class:`InvalidInput` (field ``header``/``file``) when the file itself is unusable;
    otherwise returns what was imported and what was rejected and why.
    """
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1", field="batch_size")
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="file")
    current = node.current()
    sessions = sessions or current.sessions
    rejected_path = rejected_path or path.with_name(path.name + ".rejected.csv")
    report = ImportReport(rejected_path=rejected_path)
    at = clock.now()
    with path.open("rb") as handle:
        source = _LineSource(handle)
        reader = csv.reader(source)
        header = check_header(next(reader, None))
        with rejected_path.open("w", encoding="utf-8", newline="") as rejected_file:
            writer = csv.writer(rejected_file)
            writer.writerow(["line", "field", "reason", *header])
            importer = _Importer(sessions, report, writer, actor=actor, keys=current.data_keys)
            batch: list[tuple[int, dict[str, Any], list[str]]] = []
            # Within a batch the database cannot see duplicates yet: check them here.
            batch_hashes: set[str] = set()
            for cells in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue
                if line in source.undecodable:
                    importer.reject(line, "file", "line is not valid UTF-8", cells)
                    continue
                if len(cells) != len(header):
                    importer.reject(
                        line,
                        "row",
                        f"row has {len(cells)} cells, the header has {len(header)}",
                        cells,
                    )
                    continue
                try:
                    valid = validate_resident(parse_row(dict(zip(header, cells, strict=True))))
                except DomainError as exc:
                    importer.reject(line, getattr(exc, "field", None) or "row", exc.detail, cells)
                    continue
                row = resident_row(valid, actor=actor, keys=current.data_keys, at=at)
                if row["id_hash"] in batch_hashes:
                    importer.reject(
                        line, "id_number", "this ID number appears earlier in the file", cells
                    )
                    continue
                batch_hashes.add(row["id_hash"])
                batch.append((line, row, cells))
                if len(batch) >= batch_size:
                    importer.flush(batch)
                    batch, batch_hashes = [], set()
                    if progress:
                        progress(source.bytes_read, report.rows)
            importer.flush(batch)
            if progress:
                progress(source.bytes_read, report.rows)
    return report
