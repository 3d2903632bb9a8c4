"""``ykt transfer``: pension transfer cases (养老保险关系转移) and the transfer ledger (转移台账).

``contribute`` records a year paid here; ``open`` starts a case; ``advance`` does this city's
current step; ``ledger`` (``--overdue``) lists cases with their deadlines; ``export``/``import``
exchange signed packet files of unfinished cases with another city.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan, parse_yuan

# Imported here, not per command: it registers the federation handlers of the domain, so that
# `ykt federation dead-letters replay` can apply its messages.
from yikatong.pensions import service
from yikatong.pensions.models import PensionRole

app = typer.Typer(
    help="Pension transfer between cities (养老保险关系转移) and the transfer ledger.",
    no_args_is_help=True,
)


_ACTOR = typer.Option(None, "--actor", help="Who acts (recorded in the case history)")


@app.command("contribute")
def contribute(
    resident_id: int = typer.Argument(..., min=1, help="Resident id"),
    year: int = typer.Option(..., "--year", min=1950, max=2100),
    months: int = typer.Option(12, "--months", min=1, max=12),
    base: str = typer.Option(..., "--base", help="Monthly wage base (缴费工资基数), yuan"),
    actor: str | None = _ACTOR,
) -> None:
    """Record a year of contributions paid in this city (credits the individual account)."""
    from yikatong.node import open_from_environment

    monthly_base = parse_yuan(base, field="base")
    node = open_from_environment()
    with node.transaction() as session:
        row = service.record_contribution(
            session,
            resident_id,
            year=year,
            months=months,
            monthly_base=monthly_base,
            actor=_actor(actor),
        )
        Console().print(
            f"{row.year}: {row.months} month(s) at {format_yuan(row.monthly_base)} yuan; "
            f"individual account credited {format_yuan(row.credited)} yuan"
        )


@app.command("open")
def open_case(
    resident_id: int = typer.Argument(..., min=1, help="Resident id"),
    to_city: str | None = typer.Option(None, "--to", help="Transfer out to this city (转出)"),
    from_city: str | None = typer.Option(None, "--from", help="Transfer in from this city (转入)"),
    actor: str | None = _ACTOR,
) -> None:
    """Open a transfer case: --to CITY when the person leaves, --from CITY when they arrive."""
    from yikatong.node import open_from_environment

    if (to_city is None) == (from_city is None):
        raise InvalidInput("give exactly one of --to CITY or --from CITY", field="to")
    role = PensionRole.OLD_CITY if to_city else PensionRole.NEW_CITY
    node = open_from_environment()
    with node.transaction() as session:
        case = service.open_transfer(
            session,
            resident_id,
            role=role,
            other_city_code=str(to_city or from_city),
            actor=_actor(actor),
        )
        Console().print(
            f"case {case.id} ({case.case_ref}) opened: {case.old_city_code} → "
            f"{case.new_city_code}; {case.step.label} due {case.due_on}"
        )


@app.command("advance")
def advance(
    case_id: int = typer.Argument(..., min=1, help="Case id"),
    hukou: str | None = typer.Option(
        None, "--hukou", help="Household registration city (needed for the contact letter)"
    ),
    actor: str | None = _ACTOR,
) -> None:
    """Do this city's current step of a case."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        case = service.advance(session, case_id, actor=_actor(actor), hukou_city_code=hukou)
        Console().print(f"case {case.id}: {case.history[-1]}")


@app.command("show")
def show(case_id: int = typer.Argument(..., min=1, help="Case id")) -> None:
    """A case with its history."""
    from yikatong.core import clock
    from yikatong.node import open_from_environment

    node = open_from_environment()
    console = Console()
    with node.transaction() as session:
        case = service.get_case(session, case_id)
        row = service.ledger_row(case, clock.today())
        console.print(
            f"case {case.id} {case.case_ref} ({case.role.value}) {case.old_city_code} → "
            f"{case.new_city_code}: {case.step.label}"
            + (
                f", due {case.due_on} ({row.working_days_left} working day(s) left)"
                if case.due_on
                else ""
            )
        )
        console.print(
            f"fund: individual account {service.describe_amount(case.individual_account)} + "
            f"pooled {service.describe_amount(case.pooled)} yuan"
        )
        for line in case.history:
            console.print(f"  {line}", highlight=False)


@app.command("ledger")
def ledger(
    overdue: bool = typer.Option(False, "--overdue", help="Only cases past their deadline"),
    open_only: bool = typer.Option(False, "--open", help="Only unfinished cases"),
    limit: int = typer.Option(500, "--limit", min=1, max=5000),
) -> None:
    """The transfer ledger (转移台账): step, deadline, working days left, alerts."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    table = Table("id", "case", "cities", "step", "owed by", "due", "left", "fund (yuan)", "alert")
    with node.transaction() as session:
        rows = service.transfer_ledger(
            session, overdue_only=overdue, open_only=open_only, limit=limit
        )
        for row in rows:
            case = row.case
            fund = None
            if case.individual_account is not None and case.pooled is not None:
                fund = case.individual_account + case.pooled
            table.add_row(
                str(case.id),
                case.case_ref[:8],
                f"{case.old_city_code}→{case.new_city_code}",
                case.step.label,
                (row.owing_city or "") + (" (us)" if row.ours else ""),
                str(case.due_on or ""),
                "" if row.working_days_left is None else str(row.working_days_left),
                service.describe_amount(fund),
                row.alert or "",
            )
    Console(width=200).print(table)
    if overdue and not rows:
        Console().print("no overdue cases")


@app.command("export")
def export_packet(
    receiver: str = typer.Option(..., "--to", help="The other city (6 digits)"),
    output: Path = typer.Option(..., "--output", "-o", help="Packet file to write"),
    actor: str | None = _ACTOR,
) -> None:
    """Write a signed packet of the unfinished cases shared with another city."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        packet = service.export_packet(session, receiver, actor=_actor(actor))
    output.write_text(json.dumps(packet, ensure_ascii=False, indent=1), encoding="utf-8")
    Console().print(f"{len(packet['cases'])} case(s) for {receiver} written to {output}")


@app.command("import")
def import_packet(path: Path = typer.Argument(..., help="Packet file from another city")) -> None:
    """Verify a packet file's signature and apply its cases."""
    from yikatong.node import open_from_environment

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read the packet {path}: {exc}", field="path") from None
    node = open_from_environment()
    with node.transaction() as session:
        report = service.import_packet(session, data)
    console = Console()
    console.print(
        f"packet from {report.sender}: {len(report.applied)} applied, "
        f"{len(report.unchanged)} unchanged, {len(report.refused)} refused"
    )
    for ref, why in report.refused:
        console.print(f"  refused {ref}: {why}", highlight=False)
