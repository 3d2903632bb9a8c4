"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text

from yikatong.core import db, migrate


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
    sqlite = db_url.startswith("sqlite")
    engine = create_engine(db_url) if sqlite else db.make_engine(db_url)
    refund = text(
        "INSERT INTO voucher_refund (id, voucher_id, campaign_id, merchant_id, terminal_no, "
        "refund_ref, amount, clawback, resident_refund, order_left, transfer_id, created_at) "
        "VALUES (:id, 1, 1, 1, 'T1', :ref, 1000, :clawback, :back, 0, NULL, :at)"
    )
    try:
        migrate.upgrade(engine, "0005")
        with engine.begin() as connection:
            if not sqlite:
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
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
    sqlite = db_url.startswith("sqlite")
    engine = create_engine(db_url) if sqlite else db.make_engine(db_url)
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
        with engine.begin() as connection:
            if not sqlite:
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
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


def test_0010_leaves_room_on_the_payment_lines_pages_on_postgresql(db_url: str) -> None:
    """Lines' pages are half filled on PostgreSQL (updates stay on the page); undone, the table
    is back to the default fill. SQLite has no such setting and the step changes nothing."""
    engine = db.make_engine(db_url)
    options = text("SELECT reloptions FROM pg_class WHERE relname = 'benefit_payment_line'")
    try:
        migrate.upgrade(engine)
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                assert connection.scalar(options) == ["fillfactor=50"]
        migrate.downgrade(engine, "0009")
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                assert connection.scalar(options) is None
        migrate.upgrade(engine)
        db.import_all_models()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True})
            assert compare_metadata(context, db.Base.metadata) == []
    finally:
        engine.dispose()
