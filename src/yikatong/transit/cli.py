"""``ykt fares``: quote a ride under the city's fare policy."""

from __future__ import annotations

import datetime as dt

import typer

from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan
from yikatong.core.settings import Settings
from yikatong.node import open_from_environment
from yikatong.transit import service

app = typer.Typer(help="Transit fares (票价) from the fare policy file.", no_args_is_help=True)


@app.command("quote")
def quote(
    mode: str = typer.Option(..., help="bus or metro"),
    line: str = typer.Option(..., help="Line, e.g. 26 or 3"),
    entry: str | None = typer.Option(None, help="Metro entry station"),
    exit: str | None = typer.Option(None, help="Metro exit station"),
    category: str = typer.Option("ordinary", help="Card category, e.g. senior_60"),
    card: str | None = typer.Option(None, help="Card number: its category and rides so far"),
    at: str | None = typer.Option(None, help="ISO time with offset; default: now"),
    demo: bool = typer.Option(False, "--demo", help="Accept illustrative policy values"),
) -> None:
    """The fare of one ride, step by step."""
    when = clock.now()
    if at is not None:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            raise InvalidInput(f"{at!r} is not an ISO time", field="--at") from None
        if when.tzinfo is None:
            raise InvalidInput("give the time with its offset, e.g. +08:00", field="--at")
    node = open_from_environment()
    with node.transaction() as session:
        quoted = service.quote(
            session,
            mode=mode,
            line=line,
            at=when,
            entry=entry,
            exit=exit,
            category=None if card else category,
            card_no=card,
            allow_illustrative=demo or Settings().demo,
        )
    for step in quoted.steps:
        typer.echo(f"  {step}")
    typer.echo(f"fare {format_yuan(quoted.fare)} (full fare {format_yuan(quoted.full_fare)})")
