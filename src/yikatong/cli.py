"""``ykt``: the operator command line.

Each domain contributes a Typer sub-app from its ``cli.py``; errors are mapped once to exit codes.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from yikatong.core.errors import DomainError
from yikatong.node import open_from_environment


class _DomainErrorsToExitCodes(TyperGroup):
    """Every command: a domain error prints its message on stderr and exits with its code."""

    # typer vendors click; its Context is the public face of that vendored type.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
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
    ("yikatong.api.calendar_cli", "calendar"),
    ("yikatong.federation.cli", "federation"),
    ("yikatong.ledger.cli", "ledger"),
    ("yikatong.medical.cli", "medical"),
    ("yikatong.essc.cli", "qr"),
    ("yikatong.registry.cli", "resident"),
    ("yikatong.audit.cli", "audit"),
    ("yikatong.acquiring.cli", "terminal"),
    ("yikatong.acquiring.clearing_cli", "clearing"),
    ("yikatong.transit.cli", "fares"),
    ("yikatong.transit.rides_cli", "rides"),
    ("yikatong.documents.cli", "document"),
    ("yikatong.benefits.cli", "benefits"),
    ("yikatong.certification.cli", "certify"),
    ("yikatong.certification.synth_cli", "synth"),
    ("yikatong.pensions.cli", "transfer"),
    ("yikatong.appraisal.cli", "appraisal"),
    ("yikatong.bundles.cli", "bundle"),
    ("yikatong.venues.cli", "venue"),
    ("yikatong.stats.cli", "stats"),
    ("yikatong.canteens.cli", "canteen"),
    ("yikatong.vouchers.cli", "voucher"),
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
    from yikatong.api.app import create_app, run_server

    run_server(create_app(node=open_from_environment()), host=host, port=port)


@app.command()
def demo(
    residents: int = typer.Option(
        10_000, "--residents", min=1, max=5_000_000, help="Synthetic Qingdao residents to load"
    ),
    seed: int = typer.Option(2024, "--seed", help="Same seed, same people"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve after loading"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
    league: bool = typer.Option(
        False, "--league", help="Three city nodes instead: Qingdao, Jinan, Zhengzhou"
    ),
    base_port: int = typer.Option(
        8101, "--base-port", min=1, max=65000, help="With --league: ports base, base+1, base+2"
    ),
) -> None:
    """Create the embedded database, load the demo city and serve it on http://127.0.0.1:8000."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from yikatong.core.settings import Settings
    from yikatong.demo.load import DEMO_PIN, load_demo, write_tokens
    from yikatong.node import Node, set_current

    console = Console()
    if league:
        from yikatong.demo.league import run_league_demo

        code = run_league_demo(
            console,
            data_dir=Settings().data_dir,
            residents=residents,
            seed=seed,
            base_port=base_port,
            serve=serve,
        )
        raise typer.Exit(code)
    node = Node.open(Settings(demo=True))
    set_current(node)
    columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def step(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        report = load_demo(node, residents=residents, seed=seed, progress=step)
    url = f"http://{host}:{port}"
    if report.already_loaded:
        console.print(f"demo data already loaded: {report.residents} residents (kept as they are)")
    else:
        states = ", ".join(f"{state.value} {n}" for state, n in sorted(report.cards.items()))
        console.print(
            f"loaded {report.residents} residents, {report.relations} family links, cards: {states}"
        )
    accounts = Table(title=f"resident e-SSC accounts (payment PIN {DEMO_PIN})")
    for column in ("app account", "name", "ID", "card", "family"):
        accounts.add_column(column)
    for account in report.accounts:
        accounts.add_row(
            account.app_account_id,
            account.name,
            account.id_masked,
            account.card_no,
            "、".join(account.family) or "—",
        )
    console.print(accounts)
    for module, figures in report.figures.items():
        console.print(f"{module}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    for module, reason in report.skipped.items():
        console.print(f"{module}: skipped ({reason})")
    credentials = write_tokens(node, report)
    console.print(
        "bearer tokens (Authorization: Bearer <token>; also in " + str(credentials) + "):"
    )
    for line in credentials.read_text(encoding="utf-8").splitlines():
        console.print(line.replace("\t", "  "), soft_wrap=True, highlight=False)
    console.print(f"database: {node.settings.effective_database_url}")
    if not serve:
        node.close()
        return
    from yikatong.api.app import create_app, run_server

    console.print(f"serving {url}  (API docs {url}/docs)")
    run_server(create_app(node=node), host=host, port=port)


def main() -> None:
    app()
