"""``ykt clearing``: the daily clearing of taps per merchant and the reconciliation report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.acquiring import service
from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan
from yikatong.node import open_from_environment

app = typer.Typer(help="Daily clearing (日终清算) and reconciliation (对账).", no_args_is_help=True)
console = Console()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; write YYYY-MM-DD", field="--date") from None


@app.command("run")
def run(
    date: str = typer.Option(..., "--date", help="Business date YYYY-MM-DD"),
    out: Path | None = typer.Option(
        None, help="Directory for the clearing file; default: <data dir>/clearing"
    ),
) -> None:
    """Clear a day: settlement transfers per merchant and the clearing file (CSV)."""
    day = _date(date)
    node = open_from_environment()
    with node.transaction() as session:
        service.run_clearing(session, day)
        runs = service.list_clearing_runs(session, day)
        text = service.clearing_csv(session, day)
    folder = out or node.settings.data_dir / "clearing"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"clearing-{day.isoformat()}.csv"
    path.write_text(text, encoding="utf-8")
    table = Table(title=f"clearing of {day.isoformat()}")
    for column in ("merchant", "taps", "gross", "reversals", "fare adjustments", "net", "transfer"):
        table.add_column(column)
    for run_, code in runs:
        table.add_row(
            code,
            str(run_.taps),
            format_yuan(run_.gross),
            format_yuan(-run_.reversed_amount),
            format_yuan(-run_.adjusted_amount),
            format_yuan(run_.net),
            str(run_.transfer_id or ""),
        )
    console.print(table)
    typer.echo(f"clearing file {path}")


@app.command("reconcile")
def reconcile(date: str = typer.Option(..., "--date", help="Business date YYYY-MM-DD")) -> None:
    """Uploads versus clearing per merchant, and taps versus the ledger; the cards' ride-day
    totals (乘车日累计) versus their rides; exit 1 if anything disagrees."""
    day = _date(date)
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.reconcile(session, day)
        ride_days = service.ride_days_disagreeing(session, business_date=day)
    table = Table(title=f"reconciliation of {day.isoformat()}")
    for column in (
        "merchant",
        "taps",
        "approved",
        "debts",
        "cleared",
        "awaiting",
        "ledger",
        "balanced",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.merchant,
            str(r.taps_recorded),
            format_yuan(r.approved_amount),
            format_yuan(r.debt_amount),
            format_yuan(r.cleared_amount),
            format_yuan(r.awaiting_clearing),
            format_yuan(r.outstanding_ledger),
            "yes" if r.balanced else "NO",
        )
    console.print(table)
    if ride_days:
        card_no, _, kept, counted = ride_days[0]
        cards = "1 card" if len(ride_days) == 1 else f"{len(ride_days)} cards"
        console.print(
            f"[red]The ride-day totals of {cards} disagree with the rides[/red] (card "
            f"{card_no}: {format_yuan(kept)} kept, {format_yuan(counted)} from the rides); "
            "pricing the month's cap reads them"
        )
    else:
        console.print("The cards' ride-day totals agree with their rides.")
    if not all(r.balanced for r in rows) or ride_days:
        raise typer.Exit(1)
