"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import IntegrityError

from yikatong.core import db, migrate
from yikatong.core.errors import Conflict


def _keys_off_engine(db_url: str) -> Engine:
    """An engine whose rows may be written without their parents: SQLite's own default (a
    plain engine, foreign keys off); on PostgreSQL the node's, with ``_without_parents``."""
    return create_engine(db_url) if db_url.startswith("sqlite") else db.make_engine(db_url)


@contextmanager
def _without_parents(engine: Engine) -> Iterator[Connection]:
    """A transaction of ``_keys_off_engine`` whose rows may name parents that do not exist
    (PostgreSQL's replica role skips the foreign-key triggers)."""
    with engine.begin() as connection:
        if engine.dialect.name != "sqlite":
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield connection


def _index_definitions(engine: Engine, table: str) -> dict[str, str]:
    """Each index of ``table`` by name, with the statement that creates it."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    "AND tbl_name = :table AND sql IS NOT NULL"
                ),
                {"table": table},
            )
        else:
            found = connection.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :table"),
                {"table": table},
            )
        return {str(name): str(sql) for name, sql in found}


def test_migrations_match_the_models(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        migrate.upgrade(engine)
        db.import_all_models()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True})
            differences = compare_metadata(context, db.Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_the_latest_migration_steps_back_and_forward_and_keeps_partial_indexes(
    db_url: str,
) -> None:
    """0005 undone and done again; the ledger's mostly-empty columns are indexed only where
    set, so an ordinary transfer writes no entry for them."""
    engine = db.make_engine(db_url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0004")
        migrate.upgrade(engine)
        definitions = _index_definitions(engine, "ledger_transfer")
        for column in ("pending_id", "reverses_id", "expires_at", "linked_id"):
            name = next(n for n in definitions if n.endswith(f"_ledger_transfer_{column}"))
            assert f"{column} IS NOT NULL" in definitions[name], definitions[name]
        assert "ix_ledger_transfer_created_at" not in definitions
    finally:
        engine.dispose()


def test_0006_records_that_every_earlier_clawback_went_to_the_budget(db_url: str) -> None:
    """Refunds written under 0005 keep their meaning: a clawback then always went back to the
    campaign budget. The refund rows are written without their parents, so foreign keys are
    off: SQLite's own default (a plain engine), PostgreSQL's replica role for the insert."""
    engine = _keys_off_engine(db_url)
    refund = text(
        "INSERT INTO voucher_refund (id, voucher_id, campaign_id, merchant_id, terminal_no, "
        "refund_ref, amount, clawback, resident_refund, order_left, transfer_id, created_at) "
        "VALUES (:id, 1, 1, 1, 'T1', :ref, 1000, :clawback, :back, 0, NULL, :at)"
    )
    try:
        migrate.upgrade(engine, "0005")
        with _without_parents(engine) as connection:
            for row_id, clawback in ((1, 600), (2, 0)):
                connection.execute(
                    refund,
                    {
                        "id": row_id,
                        "ref": f"R{row_id}",
                        "clawback": clawback,
                        "back": 1000 - clawback,
                        "at": "2026-11-20 10:00:00+00:00",
                    },
                )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, clawback_to FROM voucher_refund ORDER BY id")
            ).all()
        assert [tuple(r) for r in rows] == [(1, "budget"), (2, None)]
        migrate.downgrade(engine, "0005")
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_0007_steps_back_and_forward_and_keeps_a_line_per_person_month_and_attempt(
    db_url: str,
) -> None:
    """The payment line's unique key leads with the resident and replaces the resident index;
    the re-queue link is indexed only where set. Undone and done again, the key still holds."""
    engine = db.make_engine(db_url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0006")
        migrate.upgrade(engine)
        definitions = _index_definitions(engine, "benefit_payment_line")
        assert "ix_benefit_payment_line_resident_id" not in definitions
        requeued = definitions["uq_benefit_payment_line_requeued_from_id"]
        assert "requeued_from_id IS NOT NULL" in requeued, requeued
        db.import_all_models()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True})
            assert compare_metadata(context, db.Base.metadata) == []
    finally:
        engine.dispose()


def test_0009_fills_the_cards_ride_days_from_the_rides_recorded(db_url: str) -> None:
    """Each card's day total is what its charged or owed bus and metro rides of the day cost
    now; a reversed or declined tap and a canteen meal count for nothing. The taps are written
    without their parents, so foreign keys are off (as for 0006)."""
    engine = _keys_off_engine(db_url)
    merchant = text(
        "INSERT INTO acquiring_merchant (id, code, name, kind, acquired_account_id, "
        "settlement_account_id, created_at) VALUES (:id, :code, :code, :kind, 1, 2, :at)"
    )
    tap = text(
        "INSERT INTO acquiring_tap (id, terminal_id, terminal_seq, merchant_id, channel, card_no, "
        "tapped_at, business_date, amount, refunded, status, reason, details, recorded_at) "
        "VALUES (:id, 1, :id, :merchant, 'offline', :card, :at, :day, :amount, :refunded, "
        ":status, 'ok', '{}', :at)"
    )
    taps = [  # (merchant, card, day, amount, refunded, status)
        (1, "A00000001", "2026-11-20", 200, 0, "approved"),
        (1, "A00000001", "2026-11-20", 200, 100, "approved"),  # a fare adjustment gave 100 back
        (2, "A00000001", "2026-11-20", 400, 0, "debt"),  # a metro ride owed
        (1, "A00000001", "2026-11-20", 200, 0, "reversed"),
        (1, "A00000001", "2026-11-21", 200, 0, "declined"),
        (3, "A00000001", "2026-11-21", 1500, 0, "approved"),  # a canteen meal
        (1, "B00000002", "2026-11-21", 100, 0, "approved"),
        (1, "B00000002", "2026-11-22", 0, 0, "approved"),  # a free ride: no total kept
    ]
    try:
        migrate.upgrade(engine, "0008")
        with _without_parents(engine) as connection:
            for merchant_id, code, kind in (
                (1, "bus", "bus"),
                (2, "metro", "metro"),
                (3, "c", "canteen"),
            ):
                connection.execute(
                    merchant, {"id": merchant_id, "code": code, "kind": kind, "at": "2026-11-01"}
                )
            for n, (merchant_id, card, day, amount, refunded, status) in enumerate(taps, 1):
                connection.execute(
                    tap,
                    {
                        "id": n,
                        "merchant": merchant_id,
                        "card": card,
                        "at": f"{day} 01:00:00",
                        "day": day,
                        "amount": amount,
                        "refunded": refunded,
                        "status": status,
                    },
                )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT card_no, business_date, fare FROM acquiring_card_ride_day "
                    "ORDER BY card_no, business_date"
                )
            ).all()
        assert [(card, str(day), fare) for card, day, fare in rows] == [
            ("A00000001", "2026-11-20", 700),
            ("B00000002", "2026-11-21", 100),
        ]
        migrate.downgrade(engine, "0008")
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_a_node_holding_linked_payment_lines_upgrades_with_its_foreign_keys_on(
    db_url: str,
) -> None:
    """0007 rebuilds the payment line table on SQLite (new table, rows copied, old table
    dropped). Lines that other rows point at (a re-queued line, an arrear paid by a line) must
    not stop the upgrade of a node whose connections enforce foreign keys, and the links
    survive it. The rows are written without their other parents (foreign keys off, as for
    0006); the upgrade only refuses links that it broke itself."""
    raw = _keys_off_engine(db_url)
    line = text(
        "INSERT INTO benefit_payment_line (id, batch_id, programme_id, resident_id, period, "
        "attempt, amount, status, requeued_from_id) "
        "VALUES (:id, 1, 1, 7, '2026-10-01', :attempt, 150000, :status, :requeued)"
    )
    arrear = text(
        "INSERT INTO benefit_arrear (id, beneficiary_id, programme_id, resident_id, period, "
        "amount, reason, line_id, created_at) "
        "VALUES (1, 1, 1, 7, '2026-10-01', 150000, 'resumed', 2, '2026-11-01 00:00:00+00:00')"
    )
    try:
        migrate.upgrade(raw, "0006")
        with _without_parents(raw) as connection:
            connection.execute(line, {"id": 1, "attempt": 1, "status": "failed", "requeued": None})
            connection.execute(line, {"id": 2, "attempt": 2, "status": "paid", "requeued": 1})
            connection.execute(arrear)
        raw.dispose()
        node_engine = db.make_engine(db_url)  # the node's own: foreign keys enforced
        try:
            migrate.upgrade(node_engine)
            with node_engine.connect() as connection:
                lines = connection.execute(
                    text("SELECT id, requeued_from_id FROM benefit_payment_line ORDER BY id")
                ).all()
                linked = connection.scalar(text("SELECT line_id FROM benefit_arrear"))
            assert [tuple(r) for r in lines] == [(1, None), (2, 1)]
            assert linked == 2
            migrate.downgrade(node_engine, "0006")
            migrate.upgrade(node_engine)
        finally:
            node_engine.dispose()
    finally:
        raw.dispose()


def test_migration_steps_that_leave_a_row_pointing_at_nothing_change_nothing(
    db_url: str,
) -> None:
    """The steps run with SQLite's foreign keys off; a row they leave pointing at nothing
    refuses the whole transaction (PostgreSQL refuses the statement itself). Rows that pointed
    at nothing before are not the steps' doing and do not refuse it."""
    sqlite = db_url.startswith("sqlite")
    engine = db.make_engine(db_url)
    line = text(
        "INSERT INTO benefit_payment_line (id, batch_id, programme_id, resident_id, period, "
        "attempt, amount, status, requeued_from_id) "
        "VALUES (:id, 1, 1, 7, '2026-10-01', :id, 150000, 'failed', :requeued)"
    )
    raw = _keys_off_engine(db_url)
    try:
        migrate.upgrade(engine)
        with _without_parents(raw) as connection:
            connection.execute(line, {"id": 1, "requeued": None})
            connection.execute(line, {"id": 2, "requeued": 1})
        with (
            pytest.raises((Conflict, IntegrityError)) as refused,
            migrate._migrating(engine) as connection,
        ):
            connection.exec_driver_sql("DELETE FROM benefit_payment_line WHERE id = 1")
        if sqlite:
            assert "benefit_payment_line row 2 → benefit_payment_line" in str(refused.value)
        with engine.connect() as connection:
            ids = connection.scalars(text("SELECT id FROM benefit_payment_line ORDER BY id"))
            assert list(ids) == [1, 2]
            if sqlite:
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        raw.dispose()
        engine.dispose()
