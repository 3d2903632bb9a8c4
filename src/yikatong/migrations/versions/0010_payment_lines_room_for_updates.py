"""Payment lines: room on their pages for their updates (PostgreSQL)

Approval links each line of a batch to its transfer, and the bank's return file marks it paid
or failed: a month's pension batch updates millions of lines twice. On PostgreSQL the lines'
pages are now filled to half, so that a line's new version is written on its own page without
an entry in every index of the table (a HOT update). Pages written before the upgrade keep
their fill. SQLite rewrites a row in place and has no such setting: nothing changes there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE benefit_payment_line SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE benefit_payment_line RESET (fillfactor)")
