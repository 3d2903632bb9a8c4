from pathlib import Path

import pytest
from pydantic import BaseModel

from yikatong.core.errors import PolicyError
from yikatong.core.policy import load_policy_file, parse_policy


class Fares(BaseModel):
    bus_flat_fen: int
    senior_70_discount_pct: int


def test_wrapped_values_unwrap_and_illustrative_ones_are_listed() -> None:
    data = {
        "bus_flat_fen": {"value": 200, "source": "fare notice"},
        "senior_70_discount_pct": {"value": 100, "illustrative": True},
    }
    policy, illustrative = parse_policy(data, Fares, source="t", allow_illustrative=True)
    assert policy.bus_flat_fen == 200
    assert illustrative == ["senior_70_discount_pct"]


def test_illustrative_values_are_refused_outside_the_demo() -> None:
    data = {"bus_flat_fen": 200, "senior_70_discount_pct": {"value": 100, "illustrative": True}}
    with pytest.raises(PolicyError, match="senior_70_discount_pct"):
        parse_policy(data, Fares, source="t", allow_illustrative=False)


def test_missing_values_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(PolicyError) as excinfo:
        load_policy_file(path, Fares)
    assert "bus_flat_fen" in excinfo.value.detail
    assert "senior_70_discount_pct" in excinfo.value.detail


def test_unreadable_files_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy_file(tmp_path / "none.yaml", Fares)
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy_file(bad, Fares)
