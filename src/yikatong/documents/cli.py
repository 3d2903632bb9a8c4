"""``ykt document``: issue, verify (online or offline with a trust list), list and revoke
certificates (参保证明, 缴费明细)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.cliargs import operator_name as _actor
from yikatong.documents.codes import DocumentRejected
from yikatong.documents.models import DocumentType

app = typer.Typer(help="Certificates with a verification QR code (电子证明).", no_args_is_help=True)
console = Console()


@app.command("issue")
def issue(
    resident: int = typer.Option(..., "--resident", min=1, help="Resident id"),
    doc_type: DocumentType = typer.Option(..., "--type", help="proof or contributions"),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="PDF file to write"),
    since: dt.datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="First day (contributions)"
    ),
    until: dt.datetime | None = typer.Option(
        None, "--until", formats=["%Y-%m-%d"], help="Last day (contributions)"
    ),
    actor: str | None = typer.Option(None, "--actor", help="Who issues it (audited)"),
) -> None:
    """Issue a certificate for a resident and write it as PDF (the issue is audited)."""
    from yikatong.documents import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        issued = service.issue_document(
            session,
            resident,
            doc_type,
            actor=_actor(actor),
            role="operator",
            since=since.date() if since else None,
            until=until.date() if until else None,
        )
    out.write_bytes(issued.pdf)
    console.print(
        f"[green]issued[/] {issued.content.title} [bold]{issued.content.serial}[/] → {out}"
    )


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The certificate PDF"),
    trust: Path | None = typer.Option(
        None,
        "--trust",
        exists=True,
        dir_okay=False,
        help="Verify offline with this trust list (from `ykt qr trust-list`)",
    ),
    league: Path | None = typer.Option(
        None,
        "--league",
        exists=True,
        dir_okay=False,
        help="Verify offline with the keys of every city of this signed league file",
    ),
) -> None:
    """Verify a certificate: offline with a trust list or a league file, or online against the
    issuing city's register (this node's, or another league city's over the federation)."""
    from yikatong.crypto.keyring import TrustList
    from yikatong.documents import service

    data = file.read_bytes()
    if trust is not None and league is not None:
        console.print("[bold red]error (trust):[/] give --trust or --league, not both")
        raise typer.Exit(code=2)
    try:
        if league is not None:
            from yikatong.federation.league import load_league

            # The operator's signature is checked: a forged league file verifies nothing.
            verdict = service.verify_offline(data, load_league(league).trust)
        elif trust is not None:
            try:
                keys = TrustList.from_json(json.loads(trust.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                console.print(f"[bold red]error (trust):[/] not a trust list: {exc}")
                raise typer.Exit(code=2) from None
            verdict = service.verify_offline(data, keys)
        else:
            from yikatong.node import open_from_environment

            node = open_from_environment()
            with node.transaction() as session:
                verdict = service.verify_pdf(session, data)
            verdict = service.confirm_with_issuer(node, verdict)
    except DocumentRejected as exc:
        console.print(f"[bold red]INVALID[/] reason={exc.reason.value}: {exc.detail}")
        raise typer.Exit(code=exc.exit_code) from None
    table = Table(title="[bold green]VALID[/] certificate", show_header=False)
    for key, value in verdict.claims.to_json().items():
        table.add_row(key, value)
    if verdict.content is not None:
        table.add_row("holder", f"{verdict.content.holder_name} {verdict.content.holder_id_masked}")
    if verdict.registered:
        register = f"checked with city {verdict.checked_by}: issued there and not revoked"
    elif trust is not None or league is not None:
        register = "not checked (offline)"
    else:
        register = verdict.note or f"not checked (issued by city {verdict.claims.city_code})"
    table.add_row("register", register)
    console.print(table)


@app.command("list")
def list_documents(resident: int = typer.Option(..., "--resident", min=1)) -> None:
    """Certificates issued for a resident, newest first."""
    from yikatong.documents import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        records = service.documents_of(session, resident)
        table = Table("type", "issued at (UTC)", "by", "revoked")
        table.add_column("serial", no_wrap=True)
        for r in records:
            revoked = f"{r.revoked_at:%Y-%m-%d} {r.revoke_reason}" if r.revoked_at else ""
            issued = f"{r.issued_at:%Y-%m-%d %H:%M}"
            table.add_row(r.doc_type.value, issued, r.issued_by, revoked, r.serial)
    console.print(table)


@app.command("revoke")
def revoke(
    serial: str = typer.Argument(..., help="The certificate's serial"),
    reason: str = typer.Option(..., "--reason", help="Why it is revoked"),
    actor: str | None = typer.Option(None, "--actor"),
) -> None:
    """Revoke a certificate: online verification refuses it from now on."""
    from yikatong.documents import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        record = service.revoke_document(session, serial, actor=_actor(actor), reason=reason)
    console.print(f"[yellow]revoked[/] {record.serial}")
