"""``ykt canteen``: elderly canteens, district budgets, struggling status, reversals, reports.

Tills are acquiring terminals: register them with ``ykt terminal register --merchant <canteen>``.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from yikatong.canteens import service
from yikatong.core import clock
from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.cliargs import parse_optional_date as _date
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.core.settings import Settings
from yikatong.node import open_from_environment

app = typer.Typer(
    help="Elderly canteens (老年助餐) and their meal subsidies.", no_args_is_help=True
)


def _console() -> Console:
    return Console()


@app.command("add")
def add(
    code: str = typer.Argument(..., help="Canteen code, e.g. sn-yanan-canteen"),
    name: str = typer.Option(..., help="Display name, e.g. 延安路街道长者食堂"),
    district: str = typer.Option(..., help="District code, e.g. 370202 (市南区)"),
    address: str | None = typer.Option(None, help="Street address"),
    merchant: str | None = typer.Option(
        None, help="Existing acquiring merchant of kind canteen (default: register one)"
    ),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Register a canteen and its acquiring merchant."""
    node = open_from_environment()
    with node.transaction() as session:
        canteen = service.register_canteen(
            session,
            code=code,
            name=name,
            district_code=district,
            address=address,
            merchant_code=merchant,
            actor=_actor(actor),
        )
        typer.echo(
            f"canteen {canteen.code} registered in district {canteen.district_code}; register "
            f"its tills with `ykt terminal register <no> --merchant {merchant or canteen.code}`"
        )


@app.command("list")
def list_canteens(district: str | None = typer.Option(None, help="Only this district")) -> None:
    """List canteens by district."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.list_canteens(session, district_code=district)
    table = Table(title="canteens")
    for column in ("code", "name", "district", "address", "active"):
        table.add_column(column)
    for c in rows:
        table.add_row(c.code, c.name, c.district_code, c.address or "", "yes" if c.active else "no")
    _console().print(table)


@app.command("fund")
def fund(
    district: str = typer.Argument(..., help="District code, e.g. 370202"),
    amount: str = typer.Option(..., help="Yuan, e.g. 200000"),
    reference: str = typer.Option(..., help="Appropriation document (makes it idempotent)"),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Credit a district's meal-subsidy budget (拨付)."""
    fen = parse_yuan(amount, field="--amount")
    node = open_from_environment()
    with node.transaction() as session:
        transfer = service.fund_budget(
            session, district, amount=fen, reference=reference, actor=_actor(actor)
        )
        typer.echo(f"budget of {district} credited {format_yuan(fen)} yuan (transfer {transfer})")


@app.command("budgets")
def budgets() -> None:
    """District budgets: funded, granted and left."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.list_budgets(session)
    table = Table(title="meal-subsidy budgets (yuan)")
    for column in ("district", "funded", "granted", "balance"):
        table.add_column(column, justify="right" if column != "district" else "left")
    for r in rows:
        table.add_row(
            r.district_code, format_yuan(r.funded), format_yuan(r.granted), format_yuan(r.balance)
        )
    _console().print(table)


@app.command("struggling")
def struggling(
    resident_id: int = typer.Argument(..., help="Resident id"),
    reference: str = typer.Option(..., help="Certificate or decision number (低保证…)"),
    valid_from: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD"),
    valid_until: str | None = typer.Option(None, "--until", help="Last day, YYYY-MM-DD"),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Record a resident's struggling status (经济困难)."""
    start = _date(valid_from, "--from")
    assert start is not None
    node = open_from_environment()
    with node.transaction() as session:
        record = service.grant_struggling(
            session,
            resident_id,
            reference=reference,
            valid_from=start,
            valid_until=_date(valid_until, "--until"),
            actor=_actor(actor),
        )
        typer.echo(f"struggling status {record.id} recorded for resident {resident_id}")


@app.command("revoke-struggling")
def revoke_struggling(
    record_id: int = typer.Argument(..., help="Status record id"),
    reason: str = typer.Option(..., help="Why"),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Revoke a struggling status record."""
    node = open_from_environment()
    with node.transaction() as session:
        service.revoke_struggling(session, record_id, reason=reason, actor=_actor(actor))
        typer.echo(f"struggling status {record_id} revoked")


@app.command("entitlement")
def entitlement(
    resident_id: int = typer.Argument(..., help="Resident id"),
    district: str = typer.Option(..., help="District of the canteen"),
    day: str | None = typer.Option(None, help="YYYY-MM-DD (default today)"),
    demo: bool = typer.Option(False, "--demo", help="Accept illustrative policy values"),
) -> None:
    """A resident's subsidy on a day at a canteen of a district."""
    node = open_from_environment()
    on = _date(day, "--day")
    with node.transaction() as session:
        policy = service.policy_on(on or clock.today(), allow_illustrative=demo or Settings().demo)
        ent = service.entitlement_on(session, resident_id, district, day=on, policy=policy)
    typer.echo(
        f"resident {ent.resident_id} on {ent.day}: age {ent.age}, "
        f"{'struggling, ' if ent.struggling else ''}category {ent.category or 'none'}, "
        f"entitled {format_yuan(ent.entitlement)}, granted {format_yuan(ent.granted)}, "
        f"left {format_yuan(ent.left)} yuan"
    )


@app.command("meals")
def meals(
    resident_id: int = typer.Argument(..., help="Resident id"),
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first"),
) -> None:
    """A resident's meals."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.meals_of_resident(session, resident_id, limit=limit)
    table = Table(title=f"meals of resident {resident_id} (yuan)")
    for column in ("meal", "served", "canteen", "status", "price", "subsidy", "paid"):
        table.add_column(column)
    for meal, canteen in rows:
        table.add_row(
            str(meal.id),
            meal.served_at.isoformat(timespec="minutes"),
            canteen.code,
            meal.status.value if meal.reason == "ok" else f"{meal.status.value} ({meal.reason})",
            format_yuan(meal.price),
            format_yuan(meal.subsidy),
            format_yuan(meal.paid),
        )
    _console().print(table)


@app.command("reverse")
def reverse(
    meal_id: int = typer.Argument(..., help="Meal id"),
    reason: str = typer.Option(..., help="Why the meal is undone"),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Undo a meal: card money, subsidy and the day's entitlement return."""
    node = open_from_environment()
    with node.transaction() as session:
        meal = service.reverse_meal(session, meal_id, reason=reason, actor=_actor(actor))
        typer.echo(
            f"meal {meal.id} reversed: {format_yuan(meal.paid)} yuan back to the card, "
            f"{format_yuan(meal.subsidy)} yuan back to the budget of {meal.district_code}"
        )


@app.command("report")
def report(
    month_from: str | None = typer.Option(None, "--from", help="First month, YYYY-MM"),
    month_to: str | None = typer.Option(None, "--to", help="Last month, YYYY-MM"),
    district: str | None = typer.Option(None, help="Only this district"),
) -> None:
    """Subsidies granted by canteen, district and month."""
    node = open_from_environment()
    with node.transaction() as session:
        result = service.subsidy_report(
            session, month_from=month_from, month_to=month_to, district_code=district
        )
    console = _console()
    for title, rows in (
        ("by canteen", result.by_canteen),
        ("by district", result.by_district),
        ("by month", result.by_month),
    ):
        table = Table(title=f"meal subsidies {title} (yuan)")
        for column in ("month", "district", "canteen", "meals", "price", "subsidy", "paid"):
            table.add_column(column)
        for r in rows:
            table.add_row(
                r.month,
                r.district_code,
                r.canteen,
                str(r.meals),
                format_yuan(r.price),
                format_yuan(r.subsidy),
                format_yuan(r.paid),
            )
        console.print(table)
