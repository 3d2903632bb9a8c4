"""Bulk import: good rows stored in batches, bad rows reported with their line numbers."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from tests.integration.registry.conftest import Enrol, new_id_number, resident_count
from yikatong.core.errors import InvalidInput
from yikatong.node import Node
from yikatong.registry import service
from yikatong.registry.importer import COLUMNS, import_residents


def csv_line(id_number: str, name: str = "王伟", **changes: str) -> list[str]:
    values = dict.fromkeys(COLUMNS, "")
    values.update(
        id_number=id_number, name=name, district_code="370202", phone="13812341234", disabled="0"
    )
    values.update(changes)
    return [values[column] for column in COLUMNS]


def write(path: Path, rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_good_rows_are_stored_and_bad_rows_reported_by_line(node: Node, tmp_path: Path) -> None:
    repeated = new_id_number()
    rows = [
        csv_line(new_id_number(), "李秀英"),  # line 2
        csv_line("370202194902300123"),  # line 3: impossible date
        csv_line(new_id_number(), phone="12345"),  # line 4: bad phone
        csv_line(repeated, "张三"),  # line 5
        csv_line(
            new_id_number(),
            "",
        ),  # line 6: no name
        csv_line(repeated, "张三"),  # line 7: same number as line 5
        csv_line(new_id_number(), veteran="maybe"),  # line 8: bad flag
        csv_line(new_id_number(), "赵六", bank_account="6228480012345675678", student="1"),
    ]
    path = write(tmp_path / "residents.csv", rows)
    report = import_residents(path, actor="import-test", batch_size=2)
    assert report.imported == 3
    assert [(r.line, r.field) for r in sorted(report.rejections, key=lambda r: r.line)] == [
        (3, "id_number"),
        (4, "phone"),
        (6, "name"),
        (7, "id_number"),
        (8, "veteran"),
    ]
    assert resident_count(node) == 3
    with node.transaction() as session:
        zhao = service.search_residents(session, name="赵六")[0]
        assert (zhao.student, zhao.bank_account_masked, zhao.created_by) == (
            True,
            "****5678",
            "import-test",
        )


def test_rejected_rows_are_written_next_to_the_file(node: Node, tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", [csv_line(new_id_number()), csv_line("12345")])
    report = import_residents(path, actor="t")
    assert report.rejected_path == tmp_path / "in.csv.rejected.csv"
    with report.rejected_path.open(encoding="utf-8", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert [(r["line"], r["field"], r["id_number"]) for r in rejected] == [
        ("3", "id_number", "12345")
    ]
    assert "18 characters" in rejected[0]["reason"]


def test_resident_already_registered_is_rejected(node: Node, tmp_path: Path, enrol: Enrol) -> None:
    existing = enrol(birth=dt.date(1970, 7, 7))
    with node.transaction() as session:
        number = service.reveal(
            session, existing.id, actor="t", role="admin", reason="test", fields=["id_number"]
        )["id_number"]
    path = write(tmp_path / "in.csv", [csv_line(number), csv_line(new_id_number())])
    report = import_residents(path, actor="t")
    assert (report.imported, [r.line for r in report.rejections]) == (1, [2])
    assert resident_count(node) == 2


def test_row_with_wrong_number_of_cells_is_rejected(node: Node, tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", [csv_line(new_id_number())[:5], csv_line(new_id_number())])
    report = import_residents(path, actor="t")
    assert (report.imported, [(r.line, r.field) for r in report.rejections]) == (1, [(2, "row")])


def test_file_missing_a_column_is_unusable_and_stores_nothing(node: Node, tmp_path: Path) -> None:
    header = tuple(c for c in COLUMNS if c != "name")
    path = write(tmp_path / "in.csv", [csv_line(new_id_number())[:-1]], header=header)
    with pytest.raises(InvalidInput) as caught:
        import_residents(path, actor="t")
    assert caught.value.field == "header"
    assert resident_count(node) == 0


def test_progress_is_reported_up_to_the_whole_file(node: Node, tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", [csv_line(new_id_number()) for _ in range(7)])
    seen: list[tuple[int, int]] = []
    import_residents(path, actor="t", batch_size=3, progress=lambda b, r: seen.append((b, r)))
    assert seen[-1] == (path.stat().st_size, 7)
    assert [rows for _, rows in seen] == sorted(rows for _, rows in seen)
