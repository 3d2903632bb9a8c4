"""``ykt ledger``: accounts, balances, statements, trial balance, transfers, hold expiry."""

from __future__ import annotations

import datetime as dt
import json

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.ledger import service
from yikatong.ledger.models import AccountKind
from yikatong.node import open_from_environment

app = typer.Typer(help="Double-entry ledger (复式记账) in integer fen.", no_args_is_help=True)
console = Console()


def _instant(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not an ISO time; write e.g. 2025-03-10T10:00:00+08:00", field=option
        ) from None
    if value.tzinfo is None:
        raise InvalidInput("give the time with its offset, e.g. +08:00", field=option)
    return value


def _positive(text: str, option: str) -> int:
    amount = parse_yuan(text, field=option)
    if amount <= 0:
        raise InvalidInput("the amount must be positive", field=option)
    return amount


@app.command("accounts")
def accounts(
    kind: AccountKind | None = typer.Option(None, help="Only accounts of this kind"),
    limit: int = typer.Option(100, min=1, max=100_000),
) -> None:
    """List accounts with their balances (yuan, on each account's normal side)."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.list_accounts(session, kind=kind, limit=limit)
        table = Table(title="ledger accounts")
        for column in ("id", "code", "kind", "owner", "balance", "pending dr/cr", "available"):
            table.add_column(column)
        for a in rows:
            table.add_row(
                str(a.id),
                a.code,
                a.kind.value,
                f"{a.owner_type}:{a.owner_id}" if a.owner_type else "",
                format_yuan(a.balance),
                f"{format_yuan(a.debits_pending)}/{format_yuan(a.credits_pending)}",
                "" if a.available is None else format_yuan(a.available),
            )
    console.print(table)


@app.command("open")
def open_account(
    code: str = typer.Argument(..., help="Account code, e.g. bank:icbc"),
    kind: AccountKind = typer.Option(..., help="Account kind"),
    name: str = typer.Option("", help="Display name"),
) -> None:
    """Open an account (card, merchant and budget accounts refuse overdraft)."""
    node = open_from_environment()
    with node.transaction() as session:
        account = service.open_account(session, code=code, kind=kind, name=name)
        typer.echo(f"opened account {account.code} (id {account.id}, {account.kind.value})")


@app.command("balance")
def balance(
    code: str = typer.Argument(..., help="Account code"),
    at: str | None = typer.Option(None, "--at", help="ISO time with offset; default: now"),
) -> None:
    """Posted balance of an account, now or as it stood at an instant."""
    when = _instant(at, "--at")
    node = open_from_environment()
    with node.transaction() as session:
        account = service.get_account_by_code(session, code)
        value = (
            service.balance(session, account.id)
            if when is None
            else service.balance_at(session, account.id, when)
        )
    typer.echo(f"{account.code} {format_yuan(value)}")


@app.command("statement")
def statement(
    code: str = typer.Argument(..., help="Account code"),
    since: str | None = typer.Option(None, help="ISO time with offset (inclusive)"),
    until: str | None = typer.Option(None, help="ISO time with offset (exclusive)"),
    limit: int = typer.Option(1000, min=1, max=100_000),
) -> None:
    """Statement (对账单) with a running balance."""
    start, end = _instant(since, "--since"), _instant(until, "--until")
    node = open_from_environment()
    with node.transaction() as session:
        account = service.get_account_by_code(session, code)
        result = service.statement(session, account.id, since=start, until=end, limit=limit)
    table = Table(title=f"statement of {result.code}: opening {format_yuan(result.opening)}")
    for column in ("transfer", "at", "kind", "code", "debit", "credit", "balance"):
        table.add_column(column)
    for line in result.lines:
        table.add_row(
            str(line.transfer_id),
            line.at.isoformat(timespec="seconds"),
            line.kind.value,
            str(line.code),
            format_yuan(line.debit) if line.debit else "",
            format_yuan(line.credit) if line.credit else "",
            format_yuan(line.balance),
        )
    console.print(table)
    typer.echo(f"closing balance {format_yuan(result.closing)}")


@app.command("trial-balance")
def trial_balance() -> None:
    """Trial balance (试算平衡): total debits must equal total credits."""
    node = open_from_environment()
    with node.transaction() as session:
        result = service.trial_balance(session)
    table = Table(title="trial balance")
    for column in ("kind", "accounts", "debits", "credits", "pending dr", "pending cr"):
        table.add_column(column)
    for row in result.rows:
        table.add_row(
            row.kind.value,
            str(row.accounts),
            format_yuan(row.debits_posted),
            format_yuan(row.credits_posted),
            format_yuan(row.debits_pending),
            format_yuan(row.credits_pending),
        )
    table.add_row(
        "total",
        "",
        format_yuan(result.debits_posted),
        format_yuan(result.credits_posted),
        format_yuan(result.debits_pending),
        format_yuan(result.credits_pending),
    )
    console.print(table)
    typer.echo("balanced" if result.balanced else "NOT BALANCED")
    if not result.balanced:
        raise typer.Exit(1)


@app.command("transfer")
def transfer(
    source: str = typer.Option(..., "--from", help="Code of the account debited"),
    target: str = typer.Option(..., "--to", help="Code of the account credited"),
    amount: str = typer.Option(..., help="Yuan, e.g. 12.34"),
    key: str = typer.Option(..., help="Idempotency key: the same key never posts twice"),
    code: int = typer.Option(0, min=0, help="Business event code"),
    pending: bool = typer.Option(False, help="Place a hold instead of posting"),
    timeout: int | None = typer.Option(None, min=1, help="Hold timeout in seconds"),
) -> None:
    """Move money from one account to another (or hold it with --pending)."""
    fen = _positive(amount, "--amount")
    node = open_from_environment()
    with node.transaction() as session:
        debit = service.get_account_by_code(session, source)
        credit = service.get_account_by_code(session, target)
        result = service.post_transfer(
            session,
            service.TransferRequest(
                idempotency_key=key,
                debit_account_id=debit.id,
                credit_account_id=credit.id,
                amount=fen,
                code=code,
                pending=pending,
                timeout=dt.timedelta(seconds=timeout) if timeout is not None else None,
            ),
        )
    typer.echo(
        f"transfer {result.id} {result.kind.value}: {format_yuan(result.amount)} "
        f"from {source} to {target} (key {result.idempotency_key})"
    )


@app.command("post-hold")
def post_hold(
    transfer_id: int = typer.Argument(..., help="Id of the hold"),
    key: str = typer.Option(..., help="Idempotency key"),
    amount: str | None = typer.Option(None, help="Yuan to post; default the whole hold"),
) -> None:
    """Post a hold in full or in part; the remainder is released."""
    fen = None if amount is None else _positive(amount, "--amount")
    node = open_from_environment()
    with node.transaction() as session:
        result = service.post_pending(session, transfer_id, idempotency_key=key, amount=fen)
    typer.echo(f"transfer {result.id} posted {format_yuan(result.amount)} from hold {transfer_id}")


@app.command("void-hold")
def void_hold(
    transfer_id: int = typer.Argument(..., help="Id of the hold"),
    key: str = typer.Option(..., help="Idempotency key"),
) -> None:
    """Release a hold."""
    node = open_from_environment()
    with node.transaction() as session:
        result = service.void_pending(session, transfer_id, idempotency_key=key)
    typer.echo(f"transfer {result.id} released hold {transfer_id}")


@app.command("reverse")
def reverse(
    transfer_id: int = typer.Argument(..., help="Id of the posted transfer"),
    key: str = typer.Option(..., help="Idempotency key"),
    reason: str = typer.Option(..., help="Why it is reversed"),
) -> None:
    """Post the compensating transfer (冲正); history is never edited."""
    node = open_from_environment()
    with node.transaction() as session:
        result = service.reverse_transfer(session, transfer_id, idempotency_key=key, reason=reason)
    typer.echo(f"transfer {result.id} reverses transfer {transfer_id}")


@app.command("expire-holds")
def expire_holds() -> None:
    """Release every hold whose timeout has passed."""
    node = open_from_environment()
    with node.transaction() as session:
        count = service.expire_pending(session)
    typer.echo(f"released {count} expired hold(s)")


@app.command("verify")
def verify() -> None:
    """Replay the history and compare it with every account's counters."""
    node = open_from_environment()
    with node.transaction() as session:
        problems = service.verify(session)
        totals = service.trial_balance(session)
    typer.echo(json.dumps({"problems": problems, "balanced": totals.balanced}, ensure_ascii=False))
    if problems or not totals.balanced:
        raise typer.Exit(1)
