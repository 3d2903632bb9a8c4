"""Alembic environment: the URL comes from the caller's config or the node settings."""

from __future__ import annotations

from alembic import context

from yikatong.core import db
from yikatong.core.settings import Settings

config = context.config
db.import_all_models()
target_metadata = db.Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().effective_database_url
    engine = db.make_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    engine.dispose()


run_migrations()
