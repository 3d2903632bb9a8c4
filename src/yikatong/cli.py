"""``ykt``: the operator command line.

Each domain contributes a Typer sub-app from its ``cli.py``; errors are mapped once to exit codes.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
import typer
from rich.console import Console
from typer.core import TyperGroup

from yikatong.core.errors import DomainError
from yikatong.node import open_from_environment


class _DomainErrorsToExitCodes(TyperGroup):
    """Every command: a domain error prints its message on stderr and exits with its code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            field = getattr(exc, "field", None)
            where = f" ({field})" if field else ""
            err_console.print(f"[bold red]error{where}:[/] {exc.detail}", highlight=False)
            ctx.exit(exc.exit_code)


err_console = Console(stderr=True)
app = typer.Typer(
    cls=_DomainErrorsToExitCodes,
    name="ykt",
    help="yikatong 一卡通: social security card services for a city or a league of cities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# (module, command name) of every sub-app; each module defines ``app = typer.Typer(...)``.
SUB_APPS: tuple[tuple[str, str], ...] = (
    ("yikatong.cards.cli", "card"),
    ("yikatong.api.cli", "token"),
    ("yikatong.federation.cli", "federation"),
    ("yikatong.ledger.cli", "ledger"),
    ("yikatong.medical.cli", "medical"),
    ("yikatong.essc.cli", "qr"),
    ("yikatong.registry.cli", "resident"),
    ("yikatong.audit.cli", "audit"),
)


for _module, _name in SUB_APPS:
    app.add_typer(importlib.import_module(_module).app, name=_name)

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Create or upgrade the database schema to the latest revision."""
    from yikatong.core import migrate

    node = open_from_environment()
    migrate.upgrade(node.engine, revision)
    url = node.engine.url.render_as_string(hide_password=True)
    Console().print(f"database at {url} is at {revision}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Serve the API and web pages."""
    import uvicorn

    from yikatong.api.app import create_app

    uvicorn.run(create_app(node=open_from_environment()), host=host, port=port, log_level="info")


def main() -> None:
    app()
