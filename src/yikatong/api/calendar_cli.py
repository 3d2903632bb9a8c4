"""``ykt calendar``: the working-day calendar (工作日) behind every deadline, and the yearly
holiday notice (国务院办公厅节假日安排通知) imported when the calendar package lacks the year."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core import calendar
from yikatong.core.cliargs import parse_date
from yikatong.core.errors import InvalidInput

app = typer.Typer(
    help="Working-day calendar: known years, holiday notices, deadlines.", no_args_is_help=True
)
console = Console()


@app.command("years")
def years() -> None:
    """Years with an official calendar, and where each comes from."""
    from yikatong.node import open_from_environment

    open_from_environment()  # loads the notices imported into this node
    table = Table(title="工作日历 working-day calendar")
    table.add_column("year", justify="right")
    table.add_column("source")
    for year in sorted(calendar.supported_years()):
        table.add_row(str(year), calendar.source_of(year) or "")
    console.print(table)


@app.command("import")
def import_notice(
    file: Path = typer.Argument(..., help="YAML: year, notice, published, holidays, working_days"),
    replace: bool = typer.Option(False, "--replace", help="Take a corrected notice for the year"),
) -> None:
    """Import the State Council's holiday notice for a year the calendar package lacks."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    if not file.is_file():
        raise InvalidInput(f"{file} is not a file", field="file")
    notice = calendar.import_notice(
        node.settings.calendar_dir, file.read_text(encoding="utf-8"), replace=replace
    )
    off, worked = calendar.year_summary(notice.year)
    console.print(
        f"{notice.year}: {notice.notice} — {len(off)} weekdays off, "
        f"{len(worked)} weekend days worked; kept in {node.settings.calendar_dir}"
    )


@app.command("show")
def show(year: int = typer.Argument(..., help="e.g. 2027")) -> None:
    """The year's weekdays off and weekend days worked (调休), by month."""
    from yikatong.node import open_from_environment

    open_from_environment()
    off, worked = calendar.year_summary(year)
    table = Table(title=f"{year} ({calendar.source_of(year)})")
    table.add_column("month", justify="right")
    table.add_column("weekdays off (放假)")
    table.add_column("weekend days worked (调休上班)")
    for month in range(1, 13):
        table.add_row(
            str(month),
            " ".join(f"{d:%d}" for d in off if d.month == month),
            " ".join(f"{d:%d}" for d in worked if d.month == month),
        )
    console.print(table)


@app.command("deadline")
def deadline(
    start: str = typer.Option(..., "--from", help="The day the clock starts, e.g. 2026-12-10"),
    days: int = typer.Option(..., "--days", min=0, max=366, help="Working days allowed"),
) -> None:
    """The date a deadline of N working days from a day falls on (the day itself not counted)."""
    from yikatong.node import open_from_environment

    open_from_environment()
    begin = parse_date(start, "from")
    if not 2000 <= begin.year <= 2100:
        raise InvalidInput("--from must be a day between 2000 and 2100", field="from")
    end = calendar.add_working_days(begin, days)
    console.print(f"{days} working days from {begin:%Y-%m-%d} end on {end:%Y-%m-%d} ({end:%A})")


__all__ = ["app"]
