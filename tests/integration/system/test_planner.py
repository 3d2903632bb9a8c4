"""``db.planned_without``: plan methods switched off inside the block on PostgreSQL, restored after."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from yikatong.core import db
from yikatong.node import Node


def test_plan_methods_are_off_inside_the_block_and_restored_after(node: Node) -> None:
    with node.transaction() as session:
        postgres = session.get_bind().dialect.name == "postgresql"

        def setting(name: str) -> str:
            return str(session.execute(text(f"SHOW {name}")).scalar_one())

        if postgres:
            session.execute(text("SET LOCAL enable_nestloop = off"))
        with db.planned_without(session, "seqscan", "nestloop"):
            if postgres:
                assert (setting("enable_seqscan"), setting("enable_nestloop")) == ("off", "off")
            # The statements inside still run and answer the same on either backend.
            assert session.execute(text("SELECT 1")).scalar_one() == 1
        if postgres:
            # Each setting returns to what it was before the block, not to a default.
            assert (setting("enable_seqscan"), setting("enable_nestloop")) == ("on", "off")


def test_an_unknown_plan_method_is_refused(node: Node) -> None:
    with (
        node.transaction() as session,
        pytest.raises(ValueError, match="hashjoin"),
        db.planned_without(session, "hashjoin"),
    ):
        pass
