"""``ykt stats``: the city's reported figures as a table (统计)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.cliargs import parse_optional_date as _date
from yikatong.core.money import format_yuan
from yikatong.stats import service
from yikatong.stats.service import Unit

app = typer.Typer(help="Statistics the city reports (read only).", no_args_is_help=True)


def shown(value: int | None, unit: Unit, available: bool) -> str:
    """A figure as people read it: yuan for money, ‰ for rates, "no data" when unavailable."""
    if not available:
        return "no data"
    if value is None:
        return "—"
    if unit is Unit.FEN:
        return format_yuan(value)
    if unit is Unit.PERMILLE:
        return f"{value / 10:.1f}%"
    return f"{value:,}"


@app.command("show")
def show(
    since: str | None = typer.Option(None, "--since", help="First local day, e.g. 2025-03-01"),
    until: str | None = typer.Option(None, "--until", help="Last local day (default today)"),
    by: str = typer.Option("day", "--by", help="day or month"),
    district: str | None = typer.Option(None, "--district", help="6-digit district code"),
) -> None:
    """Print every figure per period, with the total of the range as the last row."""
    from yikatong.node import open_from_environment

    period = service.Period.of(
        since=_date(since, "since"), until=_date(until, "until"), granularity=by, district=district
    )
    node = open_from_environment()
    with node.transaction() as session:
        figures = service.figures(session, period)
    where = f" · district {period.district}" if period.district else ""
    table = Table(title=f"{period.since} – {period.until} by {period.granularity.value}{where}")
    table.add_column("period")
    for series in figures.series:
        table.add_column(f"{service.TITLES[series.key]}\n{series.key}", justify="right")
    for index, key in enumerate(figures.periods):
        table.add_row(key, *(shown(s.points[index], s.unit, s.available) for s in figures.series))
    table.add_section()
    table.add_row("total", *(shown(s.total, s.unit, s.available) for s in figures.series))
    Console(width=max(200, Console().width)).print(table)
