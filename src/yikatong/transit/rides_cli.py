"""``ykt rides``: an operator's ride file (交易文件) taken in at the card centre."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.errors import InvalidInput
from yikatong.node import open_from_environment
from yikatong.transit import ride_files

app = typer.Typer(help="Offline rides from operators' files (脱机交易文件).", no_args_is_help=True)
console = Console()


@app.command("upload")
def upload(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The ride file (CSV)"),
    merchant: str = typer.Option(..., help="Operator code, e.g. qd-bus"),
) -> None:
    """Take in an operator's ride file: each terminal's rides as its upload, priced in the
    order they happened; a re-sent file charges nothing twice.

    The whole file is checked first (bad lines are listed and nothing is recorded). A file of
    more than 200,000 rides is taken in parts of whole terminals, one transaction each; if a
    part fails, send the file again: the parts already taken come back as duplicates.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the ride file must be UTF-8 text", field="file") from None
    node = open_from_environment()
    try:
        parsed = ride_files.parse_ride_file(text)
        with node.transaction() as session:
            ride_files.check_terminals(session, merchant, parsed)
    except InvalidInput as exc:
        for problem in exc.extra.get("errors", []):
            console.print(
                f"line {problem['line']} ({problem['field']}): {problem['reason']}",
                highlight=False,
            )
        raise
    table = Table(title=f"{file.name}: {parsed.rides} rides of {len(parsed.terminals)} terminals")
    columns = ("terminal", "upload", "received", "approved", "debts", "dupl.", "declined", "补退")
    for column in columns:
        table.add_column(column, justify="left" if column == "terminal" else "right")
    totals = [0, 0, 0, 0, 0, 0]
    for group in ride_files.parts(parsed):
        with node.transaction() as session:
            results = ride_files.upload_ride_file(session, merchant, parsed, group)
        for terminal_no, r in results:
            counts = (
                r.received,
                r.approved,
                r.debts,
                r.duplicates,
                r.rejected,
                r.fare_adjustments,
            )
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
            table.add_row(terminal_no, str(r.upload_id), *map(str, counts))
    table.add_row("all", "", *map(str, totals), style="bold")
    console.print(table)
