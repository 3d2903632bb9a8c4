"""``db.planned_without``: plan methods switched off inside the block on PostgreSQL, restored after.
``db.analyze``: statistics that count the rows a transaction has just added."""

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


def test_analyze_counts_the_rows_the_transaction_just_added(node: Node) -> None:
    """A batch's own new rows are in the statistics before it commits, so that the statements
    after it are planned for the table's real size (PostgreSQL; SQLite keeps none)."""
    rows = text("SELECT reltuples FROM pg_class WHERE relname = 'audit_log'")
    with node.transaction() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        session.execute(
            text(
                "INSERT INTO audit_log (at, actor, role, action, subject_type, subject_id, "
                "reason, fields) SELECT now(), 'clerk', 'admin', 'reveal', 'resident', "
                "CAST(n AS VARCHAR), 'test', 'name' FROM generate_series(1, 3000) AS n"
            )
            if postgres
            else text("SELECT 1")
        )
        if postgres:
            assert session.execute(rows).scalar_one() <= 0  # never analysed, or empty
        db.analyze(session, "audit_log")
        if postgres:
            assert session.execute(rows).scalar_one() == 3000
        else:  # no statistics kept: SQLite's ANALYZE would have made sqlite_stat1
            stats = text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            assert session.execute(stats).scalar_one() == 0


def test_analyze_refuses_a_table_the_platform_does_not_have(node: Node) -> None:
    with (
        node.transaction() as session,
        pytest.raises(ValueError, match="pg_authid"),
    ):
        db.analyze(session, "pg_authid")
