"""``ykt qr``: issue, read and verify e-SSC QR codes; export the trust list; purge used nonces."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from yikatong.essc.tokens import Level, TokenRejected

app = typer.Typer(help="e-SSC dynamic QR codes (电子社保卡二维码).", no_args_is_help=True)
console = Console()


@app.command("issue")
def issue(
    card: str = typer.Option(..., "--card", help="Card number (9 characters)"),
    level: Level = typer.Option(Level.L1, "--level", help="L1 identity or L2 payment"),
    pin: str | None = typer.Option(None, "--pin", help="6-digit payment PIN (L2)"),
    out: Path = typer.Option(..., "--out", help="PNG file to write"),
) -> None:
    """Issue a code for the holder of a card and write it as a PNG."""
    from yikatong.cards import service as cards_service
    from yikatong.essc import qrimage, service
    from yikatong.node import open_from_environment

    node = open_from_environment()

    def run(session: Session) -> service.IssuedQr:
        holder = cards_service.get_card(session, card).resident_id
        return service.issue_qr(session, holder, level, pin=pin)

    issued = service.run_counting_pin_failures(node.transaction, run)
    out.write_bytes(qrimage.render_png(issued.text))
    console.print(
        f"[green]issued[/] {issued.claims.level} code for card ref {issued.claims.card_ref}, "
        f"valid until {issued.claims.expires_at.isoformat()} → {out}"
    )


@app.command("verify")
def verify(
    image: Path = typer.Argument(..., exists=True, dir_okay=False, help="PNG/JPEG with the code"),
    accept_city: list[str] | None = typer.Option(
        None, "--accept-city", help="Accept codes of this city (repeatable; default: this node)"
    ),
) -> None:
    """Read the code in an image and verify it online against this node's database."""
    from yikatong.essc import qrimage, service
    from yikatong.node import open_from_environment

    text = qrimage.decode_image(image)
    node = open_from_environment()
    try:
        with node.transaction() as session:
            verdict = service.verify_online(session, text, accept_cities=accept_city or None)
    except TokenRejected as exc:
        console.print(f"[bold red]INVALID[/] reason={exc.reason.value}: {exc.detail}")
        raise typer.Exit(code=exc.exit_code) from None
    table = Table(title="[bold green]VALID[/] e-SSC code", show_header=False)
    for key, value in verdict.claims.to_json().items():
        table.add_row(key, str(value))
    if verdict.identity is not None:
        table.add_row("holder", f"{verdict.identity.name} {verdict.identity.id_number}")
    console.print(table)


@app.command("trust-list")
def trust_list(
    out: Path = typer.Option(..., "--out", help="JSON file for terminals"),
) -> None:
    """Export this city's public keys (retired ones included) for offline terminals."""
    from yikatong.essc import service
    from yikatong.node import open_from_environment

    open_from_environment()
    keys = service.own_trust_list().to_json()
    out.write_text(json.dumps(keys, indent=2), encoding="utf-8")
    console.print(f"wrote {len(keys)} key(s) to {out}")


@app.command("purge-nonces")
def purge_nonces() -> None:
    """Forget the nonces of used codes that have expired (run periodically)."""
    from yikatong.essc import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        removed = service.purge_used_nonces(session)
    console.print(f"purged {removed} expired nonce(s)")
