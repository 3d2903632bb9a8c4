"""``ykt synth``: deterministic synthetic data sets for scale runs and benchmarks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from yikatong.core.errors import InvalidInput

app = typer.Typer(help="Synthetic data sets (deterministic: same arguments, same files).")


@app.command("evidence")
def evidence(
    out: Path = typer.Option(..., "--out", help="Directory to write retirees/ and evidence/ into"),
    retirees: int = typer.Option(
        2_000_000, "--retirees", min=1, max=50_000_000, help="Retirees (Qingdao: ~2M)"
    ),
    events: int | None = typer.Option(
        None, "--events", min=0, help="Evidence events (default: 250 per retiree, ~500M for 2M)"
    ),
    as_of: str = typer.Option("2025-06-30", "--as-of", help="The day the events lead up to"),
    seed: int = typer.Option(2025, "--seed", help="Same seed, same files"),
    file_format: str = typer.Option("parquet", "--format", help="parquet (default) or csv"),
) -> None:
    """Retirees and their evidence of life for the certification job (``ykt certify``)."""
    from yikatong.certification import synth

    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        raise InvalidInput(f"{as_of!r} is not a date; write YYYY-MM-DD", field="as_of") from None
    total = events if events is not None else retirees * 250
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("evidence chunks", total=None)

        def step(done: int, chunks: int) -> None:
            bar.update(task, completed=done, total=chunks)

        summary = synth.generate(
            out,
            retirees=retirees,
            events=total,
            as_of=day,
            seed=seed,
            file_format=file_format,
            progress=step,
        )
    console.print(
        f"{summary.retirees} retirees, {summary.events} events in {summary.chunks} chunk(s) "
        f"under {summary.directory}",
        highlight=False,
    )
