"""``ykt voucher``: consumer voucher campaigns (消费券): create, list, claim, reclaim, refund, report,
close."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

from yikatong.acquiring import service as acquiring
from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.cliargs import parse_date as _date
from yikatong.core.errors import Conflict, InvalidInput
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


@app.command("refund")
def refund(
    terminal_no: str = typer.Option(..., "--terminal", help="Till of the redeeming merchant"),
    voucher_code: str = typer.Option(..., "--voucher", help="Voucher used on the order"),
    order_ref: str = typer.Option(..., "--order", help="Order the voucher was redeemed on"),
    refund_ref: str = typer.Option(..., "--ref", help="The merchant's reference of this refund"),
    amount: str = typer.Option(..., help="Order value returned, yuan"),
) -> None:
    """Refund (退货) all or part of an order paid with a voucher, at the redeeming merchant.

    Below the voucher's threshold the whole discount is clawed back from what the resident gets;
    the voucher is then given back if still valid, else its slot is released again. After the
    close-out the discount goes to the fiscal account and nothing is given back."""
    fen = parse_yuan(amount, field="--amount")
    node = open_from_environment()
    with node.transaction() as session:
        terminal = acquiring.get_terminal(session, terminal_no)
        if str(terminal.state) != "active":
            raise Conflict(
                f"terminal {terminal.terminal_no} is {terminal.state}; use an active one"
            )
        result = service.refund_voucher(
            session,
            terminal,
            voucher_code=voucher_code,
            order_ref=order_ref,
            refund_ref=refund_ref,
            amount=fen,
        )
        r = result.refund
        late = r.clawback_to is service.ClawbackTo.FISCAL
        typer.echo(
            f"refund {r.refund_ref}: {format_yuan(r.amount)} yuan of order {result.voucher.order_ref}"
            f" returned; hand back {format_yuan(r.resident_refund)} yuan to the resident"
            + (f", discount {format_yuan(r.clawback)} clawed back" if r.clawback else "")
            + (" to the fiscal account (the campaign is closed)" if late else "")
            + f"; {format_yuan(result.refundable)} yuan still refundable"
        )
        if late:
            typer.echo(
                f"voucher {result.voucher.code} refunded; the campaign is over, none is given back"
            )
        elif result.reinstated is not None:
            typer.echo(
                f"voucher {result.voucher.code} refunded; the holder got voucher "
                f"{result.reinstated.code}, valid until {result.reinstated.expires_at.isoformat()}"
            )
        elif result.released_again:
            typer.echo(f"voucher {result.voucher.code} refunded; its slot is released again")


@app.command("close")
def close(
    code: str = typer.Argument(..., help="Campaign code"),
    actor: str | None = typer.Option(None, help="Who acts (recorded)"),
) -> None:
    """Close a campaign after its last day (活动结算): return the unspent budget to the city."""
    node = open_from_environment()
    with node.transaction() as session:
        service.close_campaign(session, code, actor=_actor(actor))
        result = service.campaign_report(session, code)
    _print_report(result)


@app.command("report")
def report(code: str = typer.Argument(..., help="Campaign code")) -> None:
    """Quota, claims, redemptions, refunds and money of a campaign (the close-out once closed)."""
    node = open_from_environment()
    with node.transaction() as session:
        result = service.campaign_report(session, code)
    _print_report(result)


def _print_report(result: service.CampaignReport) -> None:
    console = _console()
    table = Table(title=f"campaign {result.campaign.code} — {result.campaign.name}")
    for column in (
        "type",
        "released",
        "returned",
        "claimed",
        "redeemed",
        "expired",
        "refunded",
        "outstanding",
        "paid",
        "clawed back",
        "after close → fiscal",
        "subsidy",
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
            str(t.refunded),
            str(t.outstanding),
            format_yuan(t.discount_paid),
            format_yuan(t.clawed_back),
            format_yuan(t.clawed_back_after_close),
            format_yuan(t.subsidy),
        )
    console.print(table)
    merchants = Table(title="by merchant")
    for column in (
        "merchant",
        "redemptions",
        "orders",
        "refunds",
        "refunded",
        "discount paid",
        "clawed back",
        "after close → fiscal",
        "subsidy",
    ):
        merchants.add_column(column)
    for m in result.merchants:
        merchants.add_row(
            m.code,
            str(m.redemptions),
            format_yuan(m.order_total),
            str(m.refunds),
            format_yuan(m.refunded_amount),
            format_yuan(m.discount_paid),
            format_yuan(m.clawed_back),
            format_yuan(m.clawed_back_after_close),
            format_yuan(m.subsidy),
        )
    console.print(merchants)
    console.print(
        f"budget {format_yuan(result.budget)}  paid {format_yuan(result.paid)}  "
        f"clawed back {format_yuan(result.clawed_back)}  returned {format_yuan(result.returned)}  "
        f"left {format_yuan(result.balance)} yuan"
    )
    if result.closed_at is not None:
        console.print(
            f"closed {result.closed_at.isoformat(timespec='minutes')} by {result.closed_by}; "
            f"subsidy {format_yuan(result.subsidy)} yuan"
        )
        # returns refunded after the close-out: their discounts went to the fiscal account
        console.print(
            f"clawed back after close-out → fiscal {format_yuan(result.clawed_back_after_close)} "
            "yuan"
        )
        console.print(f"fiscal account got back {format_yuan(result.to_fiscal)} yuan in all")
