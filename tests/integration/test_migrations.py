"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
