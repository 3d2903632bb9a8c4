"""``ykt card``: the card lifecycle at a service point."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from yikatong.cards import service
from yikatong.cards.models import Card, CardState
from yikatong.core.ids import parse_card_number
from yikatong.node import open_from_environment

app = typer.Typer(
    help="Social security cards (社会保障卡): apply, issue, report lost…", no_args_is_help=True
)
console = Console()


class OutputFormat(StrEnum):
    TABLE = "table"
    PLAIN = "plain"


@contextmanager
def _transaction() -> Iterator[Session]:
    """One command, one unit of work; the node is closed afterwards (no pooled connections left)."""
    node = open_from_environment()
    try:
        with node.transaction() as session:
            yield session
    finally:
        node.close()


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


ActorOption = typer.Option(
    None, "--actor", help="Who does this (kept in the card history); default: the OS user"
)


def _actor(actor: str | None) -> str:
    return actor or _default_actor()


def _print_card(card: Card, note: str) -> None:
    console.print(f"{note}: card [bold]{card.card_no}[/] is now [bold]{card.state.value}[/]")


@app.command("apply")
def apply(
    resident: int = typer.Option(..., "--resident", help="Resident id"),
    reason: str = typer.Option("first application", "--reason"),
    actor: str | None = ActorOption,
) -> None:
    """Apply for a card for a resident (申领)."""
    with _transaction() as session:
        card = service.apply_for_card(session, resident, actor=_actor(actor), reason=reason)
        _print_card(card, "applied")


@app.command("issue")
def issue(
    card_no: str = typer.Argument(..., help="9-character card number"),
    reason: str = typer.Option("issued at service point", "--reason"),
    actor: str | None = ActorOption,
) -> None:
    """The card was made and handed out (发卡)."""
    with _transaction() as session:
        _print_card(
            service.issue_card(session, card_no, actor=_actor(actor), reason=reason), "issued"
        )


@app.command("activate")
def activate(
    card_no: str = typer.Argument(..., help="9-character card number"),
    reason: str = typer.Option("holder confirmed receipt", "--reason"),
    actor: str | None = ActorOption,
) -> None:
    """The holder confirmed receipt (启用)."""
    with _transaction() as session:
        card = service.activate_card(session, card_no, actor=_actor(actor), reason=reason)
        _print_card(card, "activated")


@app.command("report-lost")
def report_lost(
    card_no: str = typer.Argument(..., help="9-character card number"),
    reason: str = typer.Option(..., "--reason", help="How it was lost, who reported it"),
    formal: bool = typer.Option(
        False, "--formal", help="Formal loss report (正式挂失) instead of temporary (临时挂失)"
    ),
    actor: str | None = ActorOption,
) -> None:
    """Report a card lost: temporary by default (suspends it), --formal to replace it later."""
    with _transaction() as session:
        card = service.report_lost(
            session, card_no, actor=_actor(actor), reason=reason, temporary=not formal
        )
        _print_card(card, "reported lost")


@app.command("restore")
def restore(
    card_no: str = typer.Argument(..., help="9-character card number"),
    reason: str = typer.Option("card found by the holder", "--reason"),
    actor: str | None = ActorOption,
) -> None:
    """Lift a temporary loss report (解挂)."""
    with _transaction() as session:
        card = service.restore_card(session, card_no, actor=_actor(actor), reason=reason)
        _print_card(card, "restored")


@app.command("replace")
def replace(
    card_no: str = typer.Argument(..., help="9-character number of the lost card"),
    reason: str = typer.Option("replacement of a lost card", "--reason"),
    actor: str | None = ActorOption,
) -> None:
    """Replace a formally lost card (补卡); prints the new card number."""
    with _transaction() as session:
        new = service.replace_card(session, card_no, actor=_actor(actor), reason=reason)
        console.print(
            f"replaced: new card [bold]{new.card_no}[/] ({new.state.value}) "
            f"replaces {parse_card_number(card_no)}"
        )


@app.command("cancel")
def cancel(
    card_no: str = typer.Argument(..., help="9-character card number"),
    reason: str = typer.Option(..., "--reason", help="Why the card is cancelled"),
    actor: str | None = ActorOption,
) -> None:
    """Cancel a card for good (注销)."""
    with _transaction() as session:
        _print_card(
            service.cancel_card(session, card_no, actor=_actor(actor), reason=reason), "cancelled"
        )


@app.command("show")
def show(card_no: str = typer.Argument(..., help="9-character card number")) -> None:
    """A card, its category and its history."""
    with _transaction() as session:
        card = service.get_card(session, card_no)
        entitlements = service.card_entitlements(session, card)
        summary = Table(show_header=False, title=f"card {card.card_no}")
        summary.add_row("state", card.state.value)
        summary.add_row("resident", str(card.resident_id))
        summary.add_row("card_ref", card.card_ref)
        summary.add_row("city", card.city_code)
        summary.add_row("category", service.primary_category(entitlements).value)
        summary.add_row("entitlements", ", ".join(sorted(e.value for e in entitlements)))
        allowed = service.allowed_actions(card.state)
        summary.add_row("allowed", ", ".join(a.value for a in allowed) or "none (closed)")
        history = Table(title="history")
        for column in ("at", "from", "to", "actor", "reason"):
            history.add_column(column)
        for event in service.card_history(session, card):
            history.add_row(
                event.at.isoformat(timespec="seconds"),
                event.from_state or "",
                event.to_state,
                event.actor,
                event.reason,
            )
        console.print(summary)
        console.print(history)


@app.command("list")
def list_cards(
    state: CardState | None = typer.Option(None, "--state", help="Only cards in this state"),
    resident: int | None = typer.Option(None, "--resident", help="Only this resident's cards"),
    limit: int = typer.Option(20, "--limit", min=1, max=service.MAX_LIST_LIMIT),
    output: OutputFormat = typer.Option(
        OutputFormat.TABLE, "--format", help="table, or plain: one card number per line"
    ),
) -> None:
    """List cards; ``--format plain`` prints only card numbers, for scripts."""
    with _transaction() as session:
        cards = service.list_cards(session, state=state, resident_id=resident, limit=limit)
    if output is OutputFormat.PLAIN:
        for card in cards:
            typer.echo(card.card_no)
        return
    table = Table(title=f"{len(cards)} card(s)")
    for column in ("card_no", "state", "resident", "changed"):
        table.add_column(column)
    for card in cards:
        table.add_row(
            card.card_no,
            card.state.value,
            str(card.resident_id),
            card.state_changed_at.isoformat(timespec="seconds"),
        )
    console.print(table)
