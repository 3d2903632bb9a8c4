"""``ykt resident``: enrol, show and bulk-import residents (参保人)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.orm import Session

from yikatong.core.errors import InvalidInput
from yikatong.registry import importer, service
from yikatong.registry.service import Resident, ResidentInput

app = typer.Typer(help="Residents (参保人): enrol, show, bulk import.", no_args_is_help=True)
console = Console()


def _resident_table(resident: Resident, unmasked: dict[str, str] | None = None) -> Table:
    table = Table(show_header=False, title=f"resident {resident.id}")
    table.add_column("field", style="bold")
    table.add_column("value")
    shown = unmasked or {}
    rows: list[tuple[str, str | None]] = [
        ("person_ref", resident.person_ref),
        ("name", resident.name),
        ("id_number", shown.get("id_number", resident.id_masked)),
        ("sex", resident.sex),
        ("birth_date", resident.birth_date.isoformat()),
        ("phone", shown.get("phone", resident.phone_masked)),
        ("bank_account", shown.get("bank_account", resident.bank_account_masked)),
        ("address", resident.address),
        ("district_code", resident.district_code),
        ("household_no", resident.household_no),
        ("status", resident.status.value),
        ("died_on", resident.died_on.isoformat() if resident.died_on else None),
        ("flags", ", ".join(flag for flag in importer.FLAG_COLUMNS if getattr(resident, flag))),
    ]
    for name, value in rows:
        table.add_row(name, value or "")
    return table


def _lookup(session: Session, key: str) -> Resident:
    """A registry id (digits), an 18-character ID number, or a person reference."""
    key = key.strip()
    if len(key) == 18:
        found = service.find_by_id_number(session, key)
        if found is None:
            raise InvalidInput("no resident holds this ID number", field="ID_OR_NUMBER")
        return found
    if key.isdigit():
        return service.get_resident(session, int(key))
    return service.get_by_person_ref(session, key)


@app.command("add")
def add(
    id_number: str = typer.Option(..., "--id-number", help="18-character resident ID number"),
    name: str = typer.Option(..., "--name"),
    district_code: str = typer.Option(..., "--district-code", help="6-digit district code"),
    phone: str | None = typer.Option(None, "--phone", help="11-digit mobile number"),
    address: str | None = typer.Option(None, "--address"),
    household_no: str | None = typer.Option(None, "--household-no"),
    bank_account: str | None = typer.Option(None, "--bank-account"),
    disabled: bool = typer.Option(False, "--disabled"),
    veteran: bool = typer.Option(False, "--veteran"),
    student: bool = typer.Option(False, "--student"),
    low_income: bool = typer.Option(False, "--low-income"),
    actor: str = typer.Option("ykt-cli", "--actor", help="Who is enrolling (recorded)"),
) -> None:
    """Enrol one resident."""
    from yikatong.node import open_from_environment

    data = ResidentInput(
        id_number=id_number,
        name=name,
        district_code=district_code,
        phone=phone,
        address=address,
        household_no=household_no,
        bank_account=bank_account,
        disabled=disabled,
        veteran=veteran,
        student=student,
        low_income=low_income,
    )
    node = open_from_environment()
    with node.transaction() as session:
        resident = service.enrol_resident(session, data, actor=actor)
        console.print(_resident_table(resident))


@app.command("show")
def show(
    key: str = typer.Argument(..., metavar="ID_OR_NUMBER", help="Registry id or ID number"),
    unmask: bool = typer.Option(False, "--unmask", help="Show clear personal data (audited)"),
    reason: str | None = typer.Option(None, "--reason", help="Why you need the clear data"),
    actor: str | None = typer.Option(None, "--actor", help="Who is reading (audited)"),
    role: str = typer.Option("clerk", "--role", help="Your role: clerk or admin"),
) -> None:
    """Show a resident, masked unless --unmask (which needs --actor and --reason)."""
    from yikatong.node import open_from_environment

    if unmask and not (actor or "").strip():
        raise InvalidInput("--unmask needs --actor: every unmasked read is audited", field="actor")
    if unmask and not (reason or "").strip():
        raise InvalidInput(
            "--unmask needs --reason: every unmasked read is audited", field="reason"
        )
    node = open_from_environment()
    with node.transaction() as session:
        resident = _lookup(session, key)
        revealed = None
        if unmask:
            revealed = service.reveal(
                session, resident.id, actor=actor or "", role=role, reason=reason or ""
            )
        console.print(_resident_table(resident, revealed))


@app.command("import")
def import_csv(
    file: Path = typer.Argument(..., help="CSV with header " + ",".join(importer.COLUMNS)),
    actor: str = typer.Option("ykt-import", "--actor", help="Recorded as who enrolled"),
    batch_size: int = typer.Option(importer.DEFAULT_BATCH, "--batch-size", min=1),
    show_rejections: int = typer.Option(20, "--show", min=0, help="Rejected rows to list"),
) -> None:
    """Bulk-import residents; bad rows are listed and written to FILE.rejected.csv."""
    from yikatong.node import open_from_environment

    if not file.is_file():
        raise InvalidInput(f"no such file: {file}", field="FILE")
    node = open_from_environment()
    started = dt.datetime.now(dt.UTC)
    with Progress(
        TextColumn("[bold]importing[/] {task.fields[rows]} rows"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("import", total=file.stat().st_size, rows=0)
        report = importer.import_residents(
            file,
            actor=actor,
            sessions=node.sessions,
            batch_size=batch_size,
            progress=lambda done, rows: bar.update(task, completed=done, rows=rows),
        )
    seconds = max((dt.datetime.now(dt.UTC) - started).total_seconds(), 1e-6)
    console.print(
        f"imported {report.imported} residents, rejected {report.rejected} rows "
        f"({report.rows / seconds:,.0f} rows/s)"
    )
    if report.rejected:
        table = Table(title=f"rejected rows (all in {report.rejected_path})")
        for column in ("line", "field", "reason"):
            table.add_column(column)
        for rejection in report.rejections[:show_rejections]:
            table.add_row(str(rejection.line), rejection.field, rejection.reason)
        console.print(table)
    if report.imported == 0 and report.rejected > 0:
        raise typer.Exit(1)
