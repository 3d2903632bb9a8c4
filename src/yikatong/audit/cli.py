"""``ykt audit``: read the audit log (审计日志) from the operator console."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

from yikatong.audit import service
from yikatong.core.errors import InvalidInput

app = typer.Typer(help="The audit log of personal-data reads (read only).", no_args_is_help=True)
console = Console()


@app.command("list")
def list_entries(
    actor: str | None = typer.Option(None, "--actor", help="Only this actor's entries"),
    subject_id: str | None = typer.Option(None, "--subject-id", help="Only about this subject"),
    since: str | None = typer.Option(
        None, "--since", help="ISO instant, e.g. 2025-03-10T08:00+08:00"
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
    output: str = typer.Option(
        "table", "--format", help="table (Rich) or plain (tab-separated, one entry per line)"
    ),
) -> None:
    """List audit entries, newest first."""
    if output not in ("table", "plain"):
        raise InvalidInput("--format must be table or plain", field="format")
    from yikatong.node import open_from_environment

    since_at = None
    if since is not None:
        try:
            since_at = dt.datetime.fromisoformat(since)
        except ValueError:
            raise InvalidInput(
                f"--since is not an ISO date-time: {since!r}", field="since"
            ) from None
        if since_at.tzinfo is None:
            raise InvalidInput("--since needs a UTC offset, e.g. +08:00", field="since")
    node = open_from_environment()
    with node.transaction() as session:
        entries = service.search(
            session, actor=actor, subject_id=subject_id, since=since_at, limit=limit
        )
        rows = [
            (
                str(entry.id),
                entry.at.isoformat(timespec="seconds"),
                entry.actor,
                entry.role,
                entry.action,
                f"{entry.subject_type}:{entry.subject_id}",
                entry.fields,
                entry.reason,
            )
            for entry in entries
        ]
    if output == "plain":
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table(title=f"audit log ({len(rows)} entries)")
    for column in ("id", "at", "actor", "role", "action", "subject", "fields", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
