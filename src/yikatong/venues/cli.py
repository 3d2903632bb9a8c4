"""``ykt venue``: the venue catalogue, time slots, entry gates and the entry record (一卡通游)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.node import open_from_environment
from yikatong.venues import service
from yikatong.venues.models import ProductKind, VenueCategory

app = typer.Typer(
    help="Venues: catalogue, time slots, gates, entries (一卡通游).", no_args_is_help=True
)
console = Console()
_LOCAL = dt.timezone(dt.timedelta(hours=8))


def _day(text: str | None, option: str) -> dt.date:
    if text is None:
        return clock.now().astimezone(_LOCAL).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; write YYYY-MM-DD", field=option) from None


@app.command("list")
def list_venues(
    category: VenueCategory | None = typer.Option(None, help="Only venues of this category"),
) -> None:
    """The venue catalogue."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.list_venues(session, category=category)
        table = Table(title="venues")
        for column in ("code", "name", "category", "products"):
            table.add_column(column)
        for venue in rows:
            products = ", ".join(
                f"{p.code} {format_yuan(p.price)}"
                for p in service.list_products(session, venue.code)
            )
            table.add_row(venue.code, venue.name, venue.category.value, products)
    console.print(table)


@app.command("add")
def add(
    code: str = typer.Argument(..., help="Venue code, e.g. qd-museum"),
    name: str = typer.Option(..., help="Display name, e.g. 青岛市博物馆"),
    category: VenueCategory = typer.Option(..., help="Venue category"),
    operator: str = typer.Option(..., help="Merchant code of the operator (kind venue)"),
    district: str | None = typer.Option(None, help="District code, e.g. 370212"),
    address: str | None = typer.Option(None, help="Street address"),
) -> None:
    """Add a venue to the catalogue."""
    node = open_from_environment()
    with node.transaction() as session:
        venue = service.add_venue(
            session,
            code=code,
            name=name,
            category=category,
            operator=operator,
            district_code=district,
            address=address,
        )
        typer.echo(f"venue {venue.code} ({venue.category.value}) added, operated by {operator}")


@app.command("add-product")
def add_product(
    venue: str = typer.Argument(..., help="Venue code"),
    code: str = typer.Option(..., help="Product code, e.g. qd-museum-ticket"),
    kind: ProductKind = typer.Option(..., help="ticket or annual_pass"),
    name: str = typer.Option(..., help="Display name"),
    price: str = typer.Option(..., help="Full price in yuan, e.g. 20.00"),
    no_concessions: bool = typer.Option(False, help="No card-category concessions"),
    needs_slot: bool = typer.Option(False, help="Tickets are sold by time slot"),
    validity_days: int | None = typer.Option(None, help="Annual pass: days of validity"),
    entry_limit: int | None = typer.Option(None, help="Annual pass: entries allowed"),
) -> None:
    """Add a ticket or an annual pass to a venue."""
    node = open_from_environment()
    with node.transaction() as session:
        product = service.add_product(
            session,
            venue_code=venue,
            code=code,
            kind=kind,
            name=name,
            price=parse_yuan(price, field="--price"),
            concessions=not no_concessions,
            needs_slot=needs_slot,
            validity_days=validity_days,
            entry_limit=entry_limit,
        )
        typer.echo(f"product {product.code} ({product.kind.value}) at {format_yuan(product.price)}")


@app.command("open-slots")
def open_slots(
    venue: str = typer.Argument(..., help="Venue code"),
    day: str = typer.Option(..., help="Date, YYYY-MM-DD"),
    start: str = typer.Option("09:00", help="Local start of the first slot, HH:MM"),
    minutes: int = typer.Option(60, help="Length of a slot"),
    count: int = typer.Option(8, help="How many consecutive slots"),
    capacity: int = typer.Option(..., help="People per slot"),
) -> None:
    """Open consecutive time slots of a day."""
    try:
        first = dt.time.fromisoformat(start)
    except ValueError:
        raise InvalidInput(f"{start!r} is not a time; write HH:MM", field="--start") from None
    node = open_from_environment()
    with node.transaction() as session:
        made = service.open_slots(
            session,
            venue,
            day=_day(day, "--day"),
            first_start=first,
            minutes=minutes,
            count=count,
            capacity=capacity,
        )
        typer.echo(f"{len(made)} slot(s) opened for {venue} on {day}, {capacity} places each")


@app.command("slots")
def slots(
    venue: str = typer.Argument(..., help="Venue code"),
    day: str | None = typer.Option(None, help="Date, YYYY-MM-DD; default today"),
) -> None:
    """Time slots of a day with the places booked."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.slots_of(session, venue, _day(day, "--day"))
    table = Table(title=f"slots of {venue}")
    for column in ("id", "start", "end", "booked", "capacity"):
        table.add_column(column)
    for slot in rows:
        table.add_row(
            str(slot.id),
            f"{slot.starts_at.astimezone(_LOCAL):%H:%M}",
            f"{slot.ends_at.astimezone(_LOCAL):%H:%M}",
            str(slot.booked),
            str(slot.capacity),
        )
    console.print(table)


@app.command("add-gate")
def add_gate(
    venue: str = typer.Argument(..., help="Venue code"),
    terminal_no: str = typer.Option(..., help="Terminal number, e.g. GATE-MUSEUM-01"),
    algorithm: str = typer.Option("Ed25519", help="Ed25519 or SM2"),
) -> None:
    """Register an entry gate; its private key is printed once and never stored."""
    node = open_from_environment()
    with node.transaction() as session:
        terminal, private = service.register_gate(session, venue, terminal_no, algorithm=algorithm)
        typer.echo(f"gate {terminal.terminal_no} of {venue} registered ({terminal.algorithm})")
    if private is not None:
        typer.echo(f"private key (load it into the gate, shown once): {private.hex()}")


@app.command("entries")
def entries(
    venue: str = typer.Argument(..., help="Venue code"),
    day: str | None = typer.Option(None, help="Date, YYYY-MM-DD; default today"),
    limit: int = typer.Option(100, help="At most this many, newest first"),
) -> None:
    """Every scan at the venue's gates on a day, with its outcome."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.entries_at(session, venue, _day(day, "--day"), limit=limit)
    table = Table(title=f"entries at {venue}")
    for column in ("time", "gate scan", "resident", "outcome", "reason"):
        table.add_column(column)
    for entry in rows:
        table.add_row(
            f"{entry.at.astimezone(_LOCAL):%H:%M:%S}",
            str(entry.scan_seq),
            str(entry.resident_id or "-"),
            entry.outcome.value,
            entry.reason,
        )
    console.print(table)
    admitted = sum(1 for e in rows if e.outcome is service.EntryOutcome.ADMITTED)
    typer.echo(f"{len(rows)} scan(s), {admitted} admitted")
