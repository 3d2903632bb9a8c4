"""``ykt token``: issue access tokens for staff and terminals."""

from __future__ import annotations

import datetime as dt

import typer

app = typer.Typer(help="Access tokens for staff, terminals and residents.", no_args_is_help=True)


@app.command("issue")
def issue(
    subject: str = typer.Option(..., "--subject", help="Who the token is for, e.g. clerk-wang"),
    role: list[str] = typer.Option(..., "--role", help="clerk, auditor, admin, terminal, resident"),
    resident_id: int | None = typer.Option(None, help="For a resident token: the resident id"),
    hours: int = typer.Option(12, min=1, max=24 * 365, help="Validity in hours"),
) -> None:
    """Print a bearer token carrying the given roles."""
    from yikatong.api.auth import issue_token
    from yikatong.node import open_from_environment

    node = open_from_environment()
    typer.echo(
        issue_token(node, subject, role, resident_id=resident_id, ttl=dt.timedelta(hours=hours))
    )
