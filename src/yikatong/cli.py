"""``ykt``: the operator command line.

Each domain contributes a Typer sub-app from its ``cli.py``; errors are mapped once to exit codes.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from yikatong.core.errors import DomainError
from yikatong.node import open_from_environment

app = typer.Typer(
    name="ykt",
    help="yikatong 一卡通: social security card services for a city or a league of cities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)

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
    try:
        app()
    except DomainError as exc:
        err_console.print(f"[bold red]error:[/] {exc.detail}")
        sys.exit(exc.exit_code)
