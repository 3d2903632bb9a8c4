"""``ykt benefits``: the operator runs the month from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import Result

from tests.conftest import Ykt
from tests.integration.benefits.conftest import World, return_file


def said(result: Result) -> str:
    """The command's output on one line (Rich wraps to the terminal width)."""
    return " ".join(result.output.split())


def test_a_month_from_the_command_line(ykt: Ykt, world: World, tmp_path: Path) -> None:
    first, second = world.resident("周一"), world.resident("吴二")
    refused = ykt("benefits", "programme", "add", "aid", "--kind", "hardship_aid")
    assert refused.exit_code == 7, refused.output  # illustrative policy outside the demo
    added = ykt(
        "benefits",
        "programme",
        "add",
        "aid",
        "--kind",
        "hardship_aid",
        "--amount",
        "500",
        "--demo",
    )
    assert added.exit_code == 0, added.output
    assert "500.00 yuan on day 28" in said(added)
    assert (
        ykt(
            "benefits", "programme", "fund", "aid", "--amount", "800", "--reference", "F1"
        ).exit_code
        == 0
    )
    for rid in (first, second):
        enrolled = ykt(
            "benefits", "programme", "enrol", "aid", "--resident", str(rid), "--from", "2025-03"
        )
        assert enrolled.exit_code == 0, enrolled.output
    listed = ykt("benefits", "programme", "list")
    assert "aid" in said(listed) and "800.00" in said(listed)

    generated = ykt("benefits", "batch", "generate", "aid", "--month", "2025-03", "--actor", "amy")
    assert generated.exit_code == 0, generated.output
    batch_id = generated.output.split()[1].rstrip(":")
    again = ykt("benefits", "batch", "generate", "aid", "--month", "2025-03", "--actor", "amy")
    assert again.exit_code == 4 and "nothing to pay" in said(again)
    same_clerk = ykt("benefits", "batch", "approve", batch_id, "--actor", "amy")
    assert same_clerk.exit_code == 5
    short = ykt("benefits", "batch", "approve", batch_id, "--actor", "bob")
    assert short.exit_code == 4 and "fund it first" in said(short)  # 1000 yuan due, 800 held
    ykt("benefits", "programme", "fund", "aid", "--amount", "200", "--reference", "F2")
    assert ykt("benefits", "batch", "approve", batch_id, "--actor", "bob").exit_code == 0

    bank_file = tmp_path / "bank.csv"
    exported = ykt("benefits", "batch", "export", batch_id, "--out", str(bank_file))
    assert exported.exit_code == 0 and "2 line(s), 1000.00 yuan" in said(exported)
    rows = list(csv.reader(bank_file.open(encoding="utf-8")))
    assert rows[0][-2:] == ["2", "100000"]
    (_, id1, *_), (_, id2, *_) = rows[1:]

    bad = tmp_path / "bad.csv"
    bad.write_text(
        return_file([(int(id1), 50000, "paid", "B1", ""), (int(id2), 49999, "paid", "B2", "")])
    )
    refused_file = ykt("benefits", "batch", "import-return", batch_id, str(bad))
    assert refused_file.exit_code == 2 and "line 3 (amount_fen)" in said(refused_file)

    good = tmp_path / "return.csv"
    good.write_text(
        return_file([(int(id1), 50000, "paid", "B1", ""), (int(id2), 50000, "failed", "", "冻结")])
    )
    imported = ykt("benefits", "batch", "import-return", batch_id, str(good))
    assert "1 paid, 1 failed, 0 unchanged; batch closed" in said(imported)
    twice = ykt("benefits", "batch", "import-return", batch_id, str(good))
    assert "0 paid, 0 failed, 2 unchanged" in said(twice)

    stopped = ykt("benefits", "batch", "stop-line", id2, "--reason", "冒领核查", "--actor", "bob")
    assert stopped.exit_code == 0 and "冒领核查" in said(stopped)
    assert ykt("benefits", "batch", "stop-line", id2, "--reason", "again").exit_code == 4
    listed_batches = ykt("benefits", "batch", "list", "--programme", "aid")
    shown = said(listed_batches)
    assert all(word in shown for word in ("2025-03-28", "closed", "1000.00", "amy", "bob"))

    report = ykt("benefits", "batch", "report", batch_id)
    assert report.exit_code == 0, report.output
    assert "balanced: generated = paid + failed + pending" in said(report)
    assert "of which stopped" in said(report)
    assert "ledger: approved 100000, paid 50000, reversed 50000 fen" in said(report)
