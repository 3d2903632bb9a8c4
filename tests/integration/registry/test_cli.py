"""``ykt resident`` and ``ykt audit`` against the test node's database."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.integration.registry.conftest import Enrol, new_id_number, resident_count
from yikatong.core.errors import InvalidInput
from yikatong.demo.residents import write_csv
from yikatong.node import Node
from yikatong.registry.importer import COLUMNS

Run = Callable[..., Result]


def test_add_enrols_and_shows_masked(ykt: Run, node: Node) -> None:
    result = ykt(
        "resident", "add", "--id-number", "11010519491231002X", "--name", "李秀英",
        "--district-code", "370202", "--phone", "13812341234", "--veteran",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "110105********002X" in result.output
    assert "11010519491231002X" not in result.output
    assert resident_count(node) == 1


def test_add_with_bad_id_number_fails_and_stores_nothing(ykt: Run, node: Node) -> None:
    result = ykt(
        "resident", "add", "--id-number", "110105194912310023", "--name", "李秀英",
        "--district-code", "370202",
    )  # fmt: skip
    assert result.exit_code != 0
    assert result.exit_code == InvalidInput.exit_code, result.output
    assert "error (id_number)" in result.output
    assert resident_count(node) == 0


def test_show_is_masked_and_not_audited(ykt: Run, enrol: Enrol) -> None:
    resident = enrol(phone="13955556666")
    result = ykt("resident", "show", str(resident.id))
    assert result.exit_code == 0, result.output
    assert "139****6666" in result.output and "13955556666" not in result.output
    assert "clerk-cli" not in ykt("audit", "list").output


def test_show_unmasked_is_audited_with_the_actor(ykt: Run, enrol: Enrol) -> None:
    resident = enrol(phone="13955556666")
    result = ykt(
        "resident", "show", str(resident.id), "--unmask", "--reason", "复核", "--actor", "clerk-cli"
    )
    assert result.exit_code == 0, result.output
    assert "13955556666" in result.output
    listing = ykt("audit", "list", "--actor", "clerk-cli", "--format", "plain")
    assert listing.exit_code == 0, listing.output
    assert "复核" in listing.output and f"resident:{resident.id}" in listing.output


def test_show_unmasked_without_reason_is_refused(ykt: Run, enrol: Enrol) -> None:
    resident = enrol()
    result = ykt("resident", "show", str(resident.id), "--unmask", "--actor", "clerk-cli")
    assert result.exit_code == InvalidInput.exit_code, result.output
    assert "error (reason)" in result.output


def test_import_reports_rejected_lines(ykt: Run, node: Node, tmp_path: Path) -> None:
    path = tmp_path / "residents.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for line_no in range(2, 7):
            number = "370202194902300123" if line_no == 4 else new_id_number()
            writer.writerow([number, "王伟", "", "", "370202", "", "", "0", "0", "0", "0"])
    result = ykt("resident", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 4 residents, rejected 1 rows" in result.output
    assert "impossible birth date" in result.output
    assert (tmp_path / "residents.csv.rejected.csv").exists()
    assert resident_count(node) == 4


def test_import_of_generated_residents(ykt: Run, node: Node, tmp_path: Path) -> None:
    path = tmp_path / "demo.csv"
    write_csv(path, 250, seed=11)
    result = ykt("resident", "import", str(path), "--batch-size", "100")
    assert result.exit_code == 0, result.output
    assert resident_count(node) == 250


def test_import_of_a_file_without_the_columns_fails(ykt: Run, node: Node, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name,phone\n王伟,13812341234\n", encoding="utf-8")
    result = ykt("resident", "import", str(path))
    assert result.exit_code != 0
    assert result.exit_code == InvalidInput.exit_code, result.output
    assert "error (header)" in result.output
    assert resident_count(node) == 0


def test_import_with_only_bad_rows_exits_non_zero(ykt: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(",".join(COLUMNS) + "\n123,王伟,,,370202,,,0,0,0,0\n", encoding="utf-8")
    assert ykt("resident", "import", str(path)).exit_code == 1
