"""``ykt voucher``: consumer voucher campaigns (消费券): create, list, claim, reclaim, report."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.cliargs import parse_date as _date
from yikatong.core.errors import InvalidInput
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.node import open_from_environment
from yikatong.vouchers import service

app = typer.Typer(help="Consumer voucher campaigns (消费券).", no_args_is_help=True)


def _console() -> Console:
    return Console()


def _time(text: str, field: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise InvalidInput("write times as HH:MM", field=field) from None


def _type(text: str, index: int) -> service.TypeSpec:
    """``8000-600x100``: threshold − discount (yuan) × daily quota."""
    field = f"--type[{index}]"
    try:
        amounts, quota = text.split("x", 1)
        threshold, discount = amounts.split("-", 1)
        daily = int(quota)
    except ValueError:
        raise InvalidInput(
            "write a type as THRESHOLD-DISCOUNTxQUOTA in yuan, e.g. 8000-600x100", field=field
        ) from None
    return service.TypeSpec(
        parse_yuan(threshold, field=field), parse_yuan(discount, field=field), daily
    )


@app.command("create")
def create(
    code: str = typer.Argument(..., help="Campaign code, e.g. qd-appliances-2025"),
    name: str = typer.Option(..., help="Display name, e.g. 青岛家电消费券"),
    starts_on: str = typer.Option(..., "--from", help="First release day, YYYY-MM-DD"),
    ends_on: str = typer.Option(..., "--to", help="Last release day, YYYY-MM-DD"),
    budget: str = typer.Option(..., help="Budget in yuan, funded at creation"),
    reference: str = typer.Option(..., help="Appropriation document of the budget"),
    types: list[str] = typer.Option(
        ..., "--type", help="THRESHOLD-DISCOUNTxDAILY_QUOTA in yuan, e.g. 8000-600x100"
    ),
    merchants: list[str] = typer.Option(..., "--merchant", help="Participating merchant code"),
    release_time: str = typer.Option("10:00", help="Daily release, Beijing time (seed 002)"),
    valid_hours: int = typer.Option(24, help="Validity of a claimed voucher (seed 002: 24 h)"),
    redeem_from: str = typer.Option("09:00", help="Redemption opens (seed 002: 9:00)"),
    redeem_until: str = typer.Option("22:00", help="Redemption closes (seed 002: 22:00)"),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Create a campaign with its daily releases, merchants and funded budget."""
    specs = [_type(t, i) for i, t in enumerate(types)]
    node = open_from_environment()
    with node.transaction() as session:
        campaign = service.create_campaign(
            session,
            code=code,
            name=name,
            starts_on=_date(starts_on, "--from"),
            ends_on=_date(ends_on, "--to"),
            types=specs,
            merchant_codes=merchants,
            budget=parse_yuan(budget, field="--budget"),
            funding_reference=reference,
            release_time=_time(release_time, "--release-time"),
            valid_hours=valid_hours,
            redeem_from=_time(redeem_from, "--redeem-from"),
            redeem_until=_time(redeem_until, "--redeem-until"),
            actor=_actor(actor),
        )
        typer.echo(
            f"campaign {campaign.code} created: {len(specs)} types released daily at "
            f"{campaign.release_time.strftime('%H:%M')} from {campaign.starts_on} to "
            f"{campaign.ends_on}, budget {format_yuan(campaign.budget)} yuan"
        )


@app.command("campaigns")
def campaigns() -> None:
    """List campaigns."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = [
            (c, service.campaign_types(session, c), service.campaign_merchants(session, c))
            for c in service.list_campaigns(session)
        ]
    table = Table(title="voucher campaigns")
    for column in ("code", "name", "days", "release", "types", "merchants", "budget"):
        table.add_column(column)
    for c, types, merchants in rows:
        table.add_row(
            c.code,
            c.name,
            f"{c.starts_on} – {c.ends_on}",
            c.release_time.strftime("%H:%M"),
            ", ".join(f"{t.code}×{t.daily_quota}" for t in types),
            ", ".join(m.code for m in merchants),
            format_yuan(c.budget),
        )
    _console().print(table)


@app.command("add-merchant")
def add_merchant(
    code: str = typer.Argument(..., help="Campaign code"),
    merchant: str = typer.Option(..., help="Merchant code"),
) -> None:
    """Let another merchant take part in a campaign."""
    node = open_from_environment()
    with node.transaction() as session:
        service.add_merchant(session, code, merchant)
        typer.echo(f"{merchant} takes part in campaign {code}")


@app.command("claim")
def claim(
    code: str = typer.Argument(..., help="Campaign code"),
    voucher_type: str = typer.Option(..., "--type", help="Voucher type, e.g. 8000-600"),
    resident_id: int = typer.Option(..., help="Resident claiming (at a service counter)"),
) -> None:
    """Claim a voucher for a resident from today's release."""
    node = open_from_environment()
    with node.transaction() as session:
        voucher = service.claim_voucher(session, code, voucher_type, resident_id)
        typer.echo(f"voucher {voucher.code} claimed, valid until {voucher.expires_at.isoformat()}")


@app.command("mine")
def mine(resident_id: int = typer.Argument(..., help="Resident id")) -> None:
    """A resident's vouchers."""
    node = open_from_environment()
    with node.transaction() as session:
        rows = service.vouchers_of_resident(session, resident_id)
        table = Table(title=f"vouchers of resident {resident_id}")
        for column in ("code", "campaign", "type", "state", "claimed", "expires"):
            table.add_column(column)
        for voucher, vtype, campaign in rows:
            table.add_row(
                voucher.code,
                campaign.code,
                vtype.code,
                service.effective_state(voucher).value,
                voucher.claimed_at.isoformat(timespec="minutes"),
                voucher.expires_at.isoformat(timespec="minutes"),
            )
    _console().print(table)


@app.command("reclaim")
def reclaim() -> None:
    """Reclaim expired vouchers and release their slots again (run as a job, e.g. every minute)."""
    node = open_from_environment()
    with node.transaction() as session:
        count = service.reclaim_expired(session)
    typer.echo(f"{count} expired vouchers reclaimed")


@app.command("report")
def report(code: str = typer.Argument(..., help="Campaign code")) -> None:
    """Quota, claims, redemptions and money of a campaign."""
    node = open_from_environment()
    with node.transaction() as session:
        result = service.campaign_report(session, code)
    console = _console()
    table = Table(title=f"campaign {result.campaign.code} — {result.campaign.name}")
    for column in (
        "type",
        "released",
        "returned",
        "claimed",
        "redeemed",
        "expired",
        "outstanding",
        "paid",
    ):
        table.add_column(column)
    for t in result.types:
        table.add_row(
            t.code,
            str(t.released),
            str(t.returned),
            str(t.claimed),
            str(t.redeemed),
            str(t.expired),
            str(t.outstanding),
            format_yuan(t.discount_paid),
        )
    console.print(table)
    merchants = Table(title="by merchant")
    for column in ("merchant", "redemptions", "orders", "discount paid"):
        merchants.add_column(column)
    for m in result.merchants:
        merchants.add_row(
            m.code, str(m.redemptions), format_yuan(m.order_total), format_yuan(m.discount_paid)
        )
    console.print(merchants)
    console.print(
        f"budget {format_yuan(result.budget)}  paid {format_yuan(result.paid)}  "
        f"left {format_yuan(result.balance)} yuan"
    )
