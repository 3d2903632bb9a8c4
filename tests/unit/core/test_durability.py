"""SQLite commits reach the disk before they are acknowledged unless the operator trades that
for speed: ``synchronous=FULL`` by default (2), ``NORMAL`` (1) only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from yikatong.core import db
from yikatong.core.settings import Settings
from yikatong.node import Node


def _synchronous(node: Node) -> int:
    with node.engine.connect() as connection:
        return int(connection.execute(text("PRAGMA synchronous")).scalar_one())


def test_a_node_commits_to_disk_by_default_and_normal_only_when_asked(tmp_path: Path) -> None:
    full = Node.open(Settings(data_dir=tmp_path / "full"))
    normal = Node.open(Settings(data_dir=tmp_path / "normal", sqlite_synchronous="NORMAL"))
    try:
        assert _synchronous(full) == 2  # FULL
        assert _synchronous(normal) == 1  # NORMAL
    finally:
        full.close()
        normal.close()


def test_an_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        db.make_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_synchronous="OFF")
