"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from yikatong.core import db, migrate


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
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                found = connection.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                        "AND tbl_name = 'ledger_transfer' AND sql IS NOT NULL"
                    )
                )
            else:
                found = connection.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE tablename = 'ledger_transfer'"
                    )
                )
            definitions = {str(name): str(sql) for name, sql in found}
        for column in ("pending_id", "reverses_id", "expires_at", "linked_id"):
            name = next(n for n in definitions if n.endswith(f"_ledger_transfer_{column}"))
            assert f"{column} IS NOT NULL" in definitions[name], definitions[name]
        assert "ix_ledger_transfer_created_at" not in definitions
    finally:
        engine.dispose()
