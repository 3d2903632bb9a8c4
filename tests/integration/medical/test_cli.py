"""``ykt medical``: policy check/show and the what-if calculator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from yikatong.cli import app
from yikatong.core.errors import InvalidInput, NotFound, PolicyError
from yikatong.core.policy import packaged_policy_path

runner = CliRunner()


@pytest.fixture(autouse=True)
def _not_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YKT_DEMO", raising=False)


def qingdao(year: int) -> str:
    return str(packaged_policy_path("qingdao", f"{year}.yaml"))


def test_check_refuses_illustrative_values_without_demo() -> None:
    result = runner.invoke(app, ["medical", "policy", "check", qingdao(2025)])
    assert result.exit_code == PolicyError.exit_code
    assert "settlement.annual_cap" in result.output
    assert "refused outside the demo" in result.output


def test_check_accepts_illustrative_values_in_the_demo() -> None:
    result = runner.invoke(app, ["medical", "policy", "check", qingdao(2025), "--demo"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_check_lists_every_missing_value(tmp_path: Path) -> None:
    data = yaml.safe_load(Path(qingdao(2024)).read_text(encoding="utf-8"))
    del data["settlement"]["deductible"]["level3"]
    del data["family_sharing"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["medical", "policy", "check", str(path), "--demo"])
    assert result.exit_code == PolicyError.exit_code
    assert "settlement.deductible.level3" in result.output
    assert "family_sharing" in result.output


def test_check_of_a_missing_file_fails() -> None:
    result = runner.invoke(app, ["medical", "policy", "check", "/nonexistent.yaml"])
    assert result.exit_code == PolicyError.exit_code
    assert "does not exist" in result.output


def test_show_prints_the_seed_figures_in_the_demo() -> None:
    result = runner.invoke(app, ["medical", "policy", "show", "qingdao", "2024", "--demo"])
    assert result.exit_code == 0, result.output
    assert "462.00" in result.output
    assert "850.00" in result.output
    assert "old city ≤10, new city ≤5" in result.output


def test_show_of_a_missing_year_raises_not_found() -> None:
    result = runner.invoke(app, ["medical", "policy", "show", "qingdao", "2023", "--demo"])
    assert result.exit_code == NotFound.exit_code, result.output


def test_what_if_prints_the_explanation_table() -> None:
    result = runner.invoke(
        app,
        ["medical", "what-if", "--city", "qingdao", "--year", "2025", "--level", "2",
         "--item", "B:3:120.50", "--item", "A:1:800", "--demo"],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "统筹基金支付" in result.output
    assert "420.28" in result.output
    assert "741.22" in result.output


def test_what_if_refuses_a_bad_item() -> None:
    result = runner.invoke(
        app,
        ["medical", "what-if", "--city", "qingdao", "--year", "2025", "--level", "2",
         "--item", "D:1:5", "--demo"],
    )  # fmt: skip
    assert result.exit_code == InvalidInput.exit_code, result.output
    assert "catalogue class" in result.output


def test_what_if_refuses_illustrative_figures_outside_the_demo() -> None:
    result = runner.invoke(
        app,
        ["medical", "what-if", "--city", "qingdao", "--year", "2025", "--level", "2",
         "--item", "A:1:5"],
    )  # fmt: skip
    assert result.exit_code == PolicyError.exit_code, result.output
