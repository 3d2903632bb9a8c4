"""Each domain's demo data is loaded from one place (``load.DOMAIN_SEEDERS``): a listed seeder
runs once with its own seeded random stream and its figures reach the report; a seeder that is
not installed is skipped, one that fails to import is an error."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from yikatong.core import db
from yikatong.demo import load
from yikatong.node import Node

SEEDER = """
from yikatong.registry import service as registry


def seed_demo(node, rng):
    with node.transaction() as session:
        residents = registry.count_residents(session)
    return {"residents": residents, "draw": rng.randrange(1_000_000)}
"""


@pytest.fixture
def empty_node(node: Node) -> Node:
    db.Base.metadata.drop_all(node.engine)
    return node


def test_a_listed_seeder_runs_once_with_its_own_random_stream(
    empty_node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ykt_probe_demo.py").write_text(SEEDER, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(load, "DOMAIN_SEEDERS", ("yikatong.no_such_domain.demo", "ykt_probe_demo"))

    report = load.load_demo(empty_node, residents=30, seed=7)
    expected = random.Random(f"7:{empty_node.city_code}:ykt_probe_demo").randrange(1_000_000)
    assert report.figures == {"ykt_probe_demo": {"residents": 30, "draw": expected}}
    # Loaded data is kept as it is: the seeders do not run again.
    assert load.load_demo(empty_node, residents=30, seed=7).figures == {}


def test_a_seeder_that_fails_to_import_is_an_error(
    empty_node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ykt_broken_demo.py").write_text("import ykt_module_that_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(load, "DOMAIN_SEEDERS", ("ykt_broken_demo",))
    with pytest.raises(ModuleNotFoundError, match="ykt_module_that_is_missing"):
        load.load_demo(empty_node, residents=10, seed=7)


def test_a_seeder_without_a_policy_or_a_calendar_is_skipped_with_the_reason(
    empty_node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ykt_no_calendar_demo.py").write_text(
        "from yikatong.core.errors import CalendarUnavailable\n"
        "def seed_demo(node, rng):\n"
        "    raise CalendarUnavailable('no official working-day calendar for 2027')\n",
        encoding="utf-8",
    )
    (tmp_path / "ykt_no_policy_demo.py").write_text(
        "from yikatong.core.errors import PolicyError\n"
        "def seed_demo(node, rng):\n"
        "    raise PolicyError('no canteens policy for city 410100')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(load, "DOMAIN_SEEDERS", ("ykt_no_calendar_demo", "ykt_no_policy_demo"))
    report = load.load_demo(empty_node, residents=10, seed=7)
    assert report.figures == {}
    assert report.skipped == {
        "ykt_no_calendar_demo": "no official working-day calendar for 2027",
        "ykt_no_policy_demo": "no canteens policy for city 410100",
    }
