"""``ykt benefits``: programmes and the monthly disbursement cycle (一卡通发).

``programme add|list|fund|enrol``, then ``batch generate`` → ``batch approve`` (another clerk) →
``batch export`` → ``batch import-return`` → ``batch report``. The file formats are described in
:mod:`yikatong.benefits.service`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.benefits.models import ProgrammeKind
from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.core.settings import Settings

app = typer.Typer(
    help="Benefit disbursement (一卡通发): programmes and batches.", no_args_is_help=True
)
programme_app = typer.Typer(
    help="Benefit programmes and their beneficiaries.", no_args_is_help=True
)
batch_app = typer.Typer(
    help="Monthly batches: generate, approve, export, return, report.", no_args_is_help=True
)
app.add_typer(programme_app, name="programme")
app.add_typer(batch_app, name="batch")


def _console() -> Console:
    # Made per command, so the width follows the terminal the command runs in.
    return Console()


_ACTOR_HELP = "Who acts (recorded; the approver must differ from the generator)"


def _amount(text: str | None) -> int | None:
    if text is None:
        return None
    amount = parse_yuan(text, field="amount")
    if amount <= 0:
        raise InvalidInput("the amount must be positive", field="amount")
    return amount


@programme_app.command("add")
def programme_add(
    code: str = typer.Argument(..., help="Programme code, e.g. pension-2025"),
    kind: ProgrammeKind = typer.Option(..., "--kind", help="Programme kind"),
    name: str | None = typer.Option(None, "--name", help="Display name (policy name if absent)"),
    amount: str | None = typer.Option(
        None, "--amount", help="Default yuan per person (policy default if absent)"
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Accept illustrative policy values (demo only); also YKT_DEMO=true"
    ),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Open a programme with its budget and payable ledger accounts."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        programme = service.add_programme(
            session,
            code=code,
            kind=kind,
            name=name,
            amount=_amount(amount),
            actor=_actor(actor),
            allow_illustrative=demo or Settings().demo,
        )
        _console().print(
            f"programme {programme.id} {programme.code} ({programme.name}): "
            f"{format_yuan(programme.amount)} yuan on day {programme.pay_day}, "
            f"policy {programme.policy_source}",
            highlight=False,
        )


@programme_app.command("list")
def programme_list() -> None:
    """List programmes with their default amount and budget balance."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    table = Table(title="benefit programmes")
    for column in ("id", "code", "kind", "name", "amount", "pay day", "budget"):
        table.add_column(column)
    with node.transaction() as session:
        for p in service.list_programmes(session):
            table.add_row(
                str(p.id),
                p.code,
                p.kind.value,
                p.name,
                format_yuan(p.amount),
                str(p.pay_day),
                format_yuan(service.budget_balance(session, p)),
            )
    _console().print(table)


@programme_app.command("fund")
def programme_fund(
    code: str = typer.Argument(..., help="Programme code"),
    amount: str = typer.Option(..., "--amount", help="Yuan credited to the budget"),
    reference: str = typer.Option(..., "--reference", help="Appropriation reference (idempotent)"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Credit a programme's budget from the fund's bank account (拨付)."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        programme = service.get_programme_by_code(session, code)
        transfer_id = service.fund_programme(
            session,
            programme.id,
            amount=_amount(amount) or 0,
            reference=reference,
            actor=_actor(actor),
        )
        balance = service.budget_balance(session, programme)
    _console().print(f"transfer {transfer_id}: budget of {code} now {format_yuan(balance)} yuan")


@programme_app.command("enrol")
def programme_enrol(
    code: str = typer.Argument(..., help="Programme code"),
    resident: int = typer.Option(..., "--resident", min=1, help="Resident id"),
    amount: str | None = typer.Option(None, "--amount", help="Yuan per payment for this person"),
    first_month: str | None = typer.Option(None, "--from", help="First month paid, YYYY-MM"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Enrol a resident as a beneficiary of a programme."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    first = None if first_month is None else service.parse_month(first_month, field="from")
    with node.transaction() as session:
        programme = service.get_programme_by_code(session, code)
        beneficiary = service.enrol_beneficiary(
            session,
            programme.id,
            resident,
            actor=_actor(actor),
            amount=_amount(amount),
            first_period=first,
        )
        _console().print(
            f"beneficiary {beneficiary.id}: resident {resident} in {code} "
            f"from {beneficiary.first_period:%Y-%m}"
        )


@batch_app.command("generate")
def batch_generate(
    code: str = typer.Argument(..., help="Programme code"),
    month: str = typer.Option(..., "--month", help="Month paid, YYYY-MM"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Generate the batch of a month: every active beneficiary not yet paid, failed lines again."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    period = service.parse_month(month)
    with node.transaction() as session:
        programme = service.get_programme_by_code(session, code)
        batch = service.generate_batch(session, programme.id, period, actor=_actor(actor))
        _console().print(
            f"batch {batch.id}: {batch.line_count} line(s), {format_yuan(batch.total)} yuan, "
            f"value date {batch.value_date.isoformat()}; approve it with another clerk"
        )


@batch_app.command("approve")
def batch_approve(
    batch_id: int = typer.Argument(..., min=1, max=2_147_483_647, help="Batch id"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Approve a batch (复核): refused for the clerk who generated it."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        batch = service.approve_batch(session, batch_id, actor=_actor(actor))
        _console().print(f"batch {batch.id} approved by {batch.approved_by}")


@batch_app.command("export")
def batch_export(
    batch_id: int = typer.Argument(..., min=1, max=2_147_483_647, help="Batch id"),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="Bank file to write (CSV)"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Write the bank file of the batch's pending lines (bank account reads are audited)."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        bank_file = service.export_bank_file(session, batch_id, actor=_actor(actor))
    out.write_text(bank_file.text, encoding="utf-8")
    _console().print(
        f"bank file {out}: {bank_file.count} line(s), {format_yuan(bank_file.total)} yuan",
        highlight=False,
    )


@batch_app.command("import-return")
def batch_import_return(
    batch_id: int = typer.Argument(..., min=1, max=2_147_483_647, help="Batch id"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Bank return file (CSV)"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Apply the bank's return file; a bad file is refused whole with its line numbers."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the return file must be UTF-8 text", field="file") from None
    node = open_from_environment()
    try:
        with node.transaction() as session:
            outcome = service.import_return_file(session, batch_id, text, actor=_actor(actor))
    except InvalidInput as exc:
        for problem in exc.extra.get("errors", []):
            if "line" in problem:
                _console().print(
                    f"line {problem['line']} ({problem['field']}): {problem['reason']}",
                    highlight=False,
                )
        raise
    _console().print(
        f"batch {outcome.batch_id}: {outcome.paid} paid, {outcome.failed} failed, "
        f"{outcome.unchanged} unchanged; batch {outcome.batch_status}"
    )


@batch_app.command("list")
def batch_list(
    code: str | None = typer.Option(None, "--programme", help="Only this programme's batches"),
) -> None:
    """List batches with their state, count and total."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    table = Table(title="benefit batches")
    for column in ("id", "programme", "month", "value date", "status", "lines", "yuan", "by"):
        table.add_column(column)
    with node.transaction() as session:
        programme_id = None if code is None else service.get_programme_by_code(session, code).id
        codes = {p.id: p.code for p in service.list_programmes(session)}
        for b in service.list_batches(session, programme_id=programme_id):
            table.add_row(
                str(b.id),
                codes[b.programme_id],
                f"{b.period:%Y-%m}",
                b.value_date.isoformat(),
                b.status.value,
                str(b.line_count),
                format_yuan(b.total),
                f"{b.created_by} / {b.approved_by or '—'}",
            )
    _console().print(table)


@batch_app.command("stop-line")
def batch_stop_line(
    line_id: int = typer.Argument(..., min=1, max=2_147_483_647, help="Failed payment line id"),
    reason: str = typer.Option(..., "--reason", help="Why it is stopped (止付原因)"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Stop a failed line for good instead of re-queuing it into the next batch."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        line = service.stop_line(session, line_id, reason=reason, actor=_actor(actor))
        _console().print(f"line {line.id} stopped: {line.disposition_reason}", highlight=False)


@batch_app.command("report")
def batch_report(
    batch_id: int = typer.Argument(..., min=1, max=2_147_483_647, help="Batch id"),
) -> None:
    """Reconciliation (对账): generated = paid + failed + pending, checked against the ledger."""
    from yikatong.benefits import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        report = service.reconcile_batch(session, batch_id)
    table = Table(
        title=f"batch {report.batch_id} {report.programme_code} {report.period:%Y-%m} "
        f"({report.status})"
    )
    for column in ("", "lines", "yuan", "fen"):
        table.add_column(column, justify="right")
    for label, tally in (
        ("generated", report.generated),
        ("paid", report.paid),
        ("failed", report.failed),
        ("  of which re-queued", report.requeued),
        ("  of which stopped", report.stopped),
        ("pending", report.pending),
    ):
        table.add_row(label, str(tally.count), format_yuan(tally.amount), str(tally.amount))
    _console().print(table)
    _console().print(
        f"ledger: approved {report.ledger_approved}, paid {report.ledger_paid}, "
        f"reversed {report.ledger_reversed} fen"
    )
    if report.balanced:
        _console().print("balanced: generated = paid + failed + pending")
    else:
        for problem in report.problems:
            _console().print(f"[bold red]unbalanced:[/] {problem}")
        raise typer.Exit(4)
