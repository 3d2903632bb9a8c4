"""``ykt terminal``: merchants and their terminals (终端管理)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from yikatong.acquiring import service
from yikatong.acquiring.models import MerchantKind
from yikatong.core.errors import InvalidInput
from yikatong.node import open_from_environment

app = typer.Typer(help="Merchants and their terminals (收单终端).", no_args_is_help=True)
console = Console()


@app.command("add-merchant")
def add_merchant(
    code: str = typer.Argument(..., help="Merchant code, e.g. qd-metro"),
    name: str = typer.Option(..., help="Display name, e.g. 青岛地铁"),
    kind: MerchantKind = typer.Option(..., help="What the merchant is"),
) -> None:
    """Register a merchant or transport operator with its settlement accounts."""
    node = open_from_environment()
    with node.transaction() as session:
        merchant = service.register_merchant(session, code=code, name=name, kind=kind)
        typer.echo(
            f"merchant {merchant.code} ({merchant.kind.value}) registered, accounts "
            f"merchant:{merchant.code}:acq and merchant:{merchant.code}:settle"
        )


@app.command("merchants")
def merchants() -> None:
    """List merchants."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.list_merchants(session)
    table = Table(title="merchants")
    for column in ("code", "name", "kind"):
        table.add_column(column)
    for m in rows:
        table.add_row(m.code, m.name, m.kind.value)
    console.print(table)


@app.command("register")
def register(
    terminal_no: str = typer.Argument(..., help="Terminal number, e.g. BUS-0001"),
    merchant: str = typer.Option(..., help="Merchant code"),
    algorithm: str = typer.Option("Ed25519", help="Ed25519 or SM2"),
    public_key: str | None = typer.Option(
        None, help="Hex public key made on the device; omitted: a key pair is made here"
    ),
    line: str | None = typer.Option(None, help="Line or station the terminal serves"),
) -> None:
    """Register a terminal; a key pair made here is printed once and never stored."""
    public: bytes | None = None
    if public_key is not None:
        try:
            public = bytes.fromhex(public_key)
        except ValueError:
            raise InvalidInput("the public key is hex", field="--public-key") from None
    node = open_from_environment()
    with node.transaction() as session:
        terminal, private = service.register_terminal(
            session,
            terminal_no=terminal_no,
            merchant_code=merchant,
            algorithm=algorithm,
            public_key=public,
            line=line,
        )
        typer.echo(f"terminal {terminal.terminal_no} registered to {merchant} ({algorithm})")
        typer.echo(f"public key  {terminal.public_key.hex()}")
        if private is not None:
            typer.echo(f"private key {private.hex()}  (load it into the device; not kept here)")


@app.command("list")
def list_terminals(
    merchant: str | None = typer.Option(None, help="Only this merchant's terminals"),
) -> None:
    """List terminals with their merchant, key algorithm and last request sequence."""
    node = open_from_environment()
    with node.transaction() as session:
        codes = {m.id: m.code for m in service.list_merchants(session)}
        rows = service.list_terminals(session, merchant_code=merchant)
    table = Table(title="terminals")
    for column in ("terminal", "merchant", "line", "algorithm", "state", "last seq"):
        table.add_column(column)
    for t in rows:
        table.add_row(
            t.terminal_no,
            codes[t.merchant_id],
            t.line or "",
            t.algorithm,
            t.state.value,
            str(t.last_request_seq),
        )
    console.print(table)


@app.command("retire")
def retire(terminal_no: str = typer.Argument(..., help="Terminal number")) -> None:
    """Take a terminal out of service; its signatures are refused from now on."""
    node = open_from_environment()
    with node.transaction() as session:
        terminal = service.retire_terminal(session, terminal_no)
        typer.echo(f"terminal {terminal.terminal_no} retired")
