"""``ykt medical``: check and show policy files, and a what-if settlement calculator."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.errors import InvalidInput, PolicyError
from yikatong.core.money import Fen, format_yuan, parse_yuan
from yikatong.core.settings import Settings
from yikatong.medical import service
from yikatong.medical.policy import Category, MedicalPolicy, OffsiteCase, check_policy_file
from yikatong.medical.rules import continuous_reward, contribution_due, fiscal_subsidy
from yikatong.node import open_from_environment

app = typer.Typer(
    help="Resident medical insurance (城乡居民医保): policies and settlement what-ifs.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="Policy files: check one, show a packaged one.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

_DEMO_HELP = "Accept illustrative values (demo only); also on with YKT_DEMO=true"


def _allow_illustrative(demo: bool) -> bool:
    return demo or Settings().demo


@policy_app.command("check")
def policy_check(
    file: Path = typer.Argument(..., help="Policy YAML file to validate"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
) -> None:
    """Validate a policy file; list what is missing or wrong and what is illustrative."""
    console = Console()
    result = check_policy_file(file)
    if result.policy is None:
        console.print(f"[bold red]invalid[/] {file}: {len(result.problems)} problem(s)")
        for problem in result.problems:
            console.print(f"  - {problem}")
        raise typer.Exit(PolicyError.exit_code)
    console.print(f"[green]valid[/] {file}: {result.policy.city} {result.policy.year}")
    if result.illustrative:
        console.print(f"[yellow]{len(result.illustrative)} illustrative value(s)[/]:")
        for path in result.illustrative:
            console.print(f"  - {path}")
        if not _allow_illustrative(demo):
            console.print(
                "refused outside the demo: replace these with published figures, or pass --demo"
            )
            raise typer.Exit(PolicyError.exit_code)
    else:
        console.print("no illustrative values: usable in production")


def _show(policy: MedicalPolicy) -> Table:
    table = Table(title=f"{policy.city} {policy.year} 城乡居民医保 resident medical insurance")
    table.add_column("item")
    table.add_column("value", justify="right")
    marked = set(policy.illustrative)

    def row(label: str, value: str, path: str) -> None:
        flag = " *" if path in marked else ""
        table.add_row(label, value + flag)

    for category in Category:
        row(
            f"individual contribution 个人缴费 {category.value}",
            format_yuan(contribution_due(policy, category)),
            f"contributions.individual.{category.value}",
        )
    for category in Category:
        row(
            f"fiscal subsidy 财政补助 {category.value}",
            format_yuan(fiscal_subsidy(policy, category)),
            f"contributions.subsidy.{category.value}",
        )
    window = policy.collection
    table.add_row("collection window 集中缴费期", f"{window.opens} – {window.closes}")
    wait = policy.waiting_period
    table.add_row("late-payment wait 等待期", f"{wait.fixed_months} months")
    table.add_row(
        "broken-cover rule 断保",
        f"+{wait.months_per_gap_year}/gap year, ≥{wait.long_gap_min_months} months "
        f"after {wait.long_gap_years}+ years"
        if wait.applies_to_broken_cover
        else "not applied",
    )
    settlement = policy.settlement
    for level in (1, 2, 3):
        row(
            f"deductible 起付线 level {level}",
            format_yuan(getattr(settlement.deductible, f"level{level}")),
            f"settlement.deductible.level{level}",
        )
        ratio = getattr(settlement.reimbursement_bp, f"level{level}")
        row(
            f"ratio 报销比例 level {level}",
            f"{ratio / 100:.2f}%",
            f"settlement.reimbursement_bp.level{level}",
        )
    row("annual cap 封顶线", format_yuan(settlement.annual_cap), "settlement.annual_cap")
    ci = settlement.critical_illness
    row(
        "critical illness threshold 大病起付",
        format_yuan(ci.threshold),
        "settlement.critical_illness.threshold",
    )
    row("critical illness cap 大病封顶", format_yuan(ci.cap), "settlement.critical_illness.cap")
    row(
        "class B self-pay 乙类先行自付",
        f"{settlement.catalogue.class_b_self_pay_bp / 100:.2f}%",
        "settlement.catalogue.class_b_self_pay_bp",
    )
    row(
        "continuous reward 连续参保激励 (10 years)",
        format_yuan(continuous_reward(policy, 10)),
        "continuous_reward.per_year",
    )
    table.add_row("family sharing 家庭共济", ", ".join(policy.family_sharing.relations))
    transfer = policy.transfer
    table.add_row(
        "transfer 转移接续 (working days)",
        f"old city ≤{transfer.old_city_working_days}, new city ≤{transfer.new_city_working_days}"
        f", end to end ≤{transfer.end_to_end_working_days}; gap ≤"
        f"{transfer.max_gap_months_without_wait} months: no wait",
    )
    return table


@policy_app.command("show")
def policy_show(
    city: str = typer.Argument(..., help="City, e.g. qingdao"),
    year: int = typer.Argument(..., help="Cover year, e.g. 2025"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
) -> None:
    """Show a packaged policy; illustrative values are marked *."""
    policy = service.policy_for(city, year, allow_illustrative=_allow_illustrative(demo))
    console = Console()
    console.print(_show(policy))
    if policy.illustrative:
        console.print("* illustrative: not published by the city, demo only")


@app.command("what-if")
def what_if(
    city: str = typer.Option(..., "--city", help="City, e.g. qingdao"),
    year: int = typer.Option(..., "--year", help="Cover year"),
    level: int = typer.Option(..., "--level", help="Institution level 1, 2 or 3"),
    item: list[str] = typer.Option(
        ..., "--item", help="CLASS:QUANTITY:UNIT_PRICE in yuan, e.g. B:3:120.50 (repeatable)"
    ),
    spent_ytd: str = typer.Option("0", "--spent-ytd", help="In-catalogue yuan settled this year"),
    offsite: OffsiteCase | None = typer.Option(None, "--offsite", help="Off-site filing case"),
    continuous_years: int = typer.Option(0, "--continuous-years", min=0),
    personal_account: str = typer.Option("0", "--personal-account", help="Balance in yuan"),
    family_account: str = typer.Option("0", "--family-account", help="Shared balance in yuan"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
) -> None:
    """Compute who pays what for a bill, line by line (费用测算)."""
    items = [service.parse_item_spec(spec, field="--item") for spec in item]
    result = service.what_if(
        city,
        year,
        institution_level=level,
        items=items,
        spent_ytd=parse_yuan(spent_ytd, field="--spent-ytd"),
        offsite=offsite,
        continuous_years=continuous_years,
        personal_account=_non_negative(personal_account, "--personal-account"),
        family_account=_non_negative(family_account, "--family-account"),
        allow_illustrative=_allow_illustrative(demo),
    )
    settlement = result.settlement
    table = Table(title=f"{city} {year} level {level} what-if 费用测算")
    table.add_column("项目")
    table.add_column("item")
    table.add_column("yuan", justify="right")
    table.add_column("how")
    for line in settlement.lines:
        table.add_row(line.label_zh, line.label_en, format_yuan(line.amount), line.detail)
    console = Console()
    console.print(table)
    if result.policy.illustrative:
        console.print("figures rest on illustrative policy values (demo only)")


def _non_negative(text: str, field: str) -> Fen:
    amount = parse_yuan(text, field=field)
    if amount < 0:
        raise InvalidInput(f"{field} cannot be negative", field=field)
    return amount


institution_app = typer.Typer(
    help="Institution registry (定点医疗机构): level, designated, direct settlement.",
    no_args_is_help=True,
)
app.add_typer(institution_app, name="institution")


@institution_app.command("add")
def institution_add(
    code: str = typer.Argument(..., help="Institution code, e.g. QD-H3"),
    name: str = typer.Option(..., help="Institution name"),
    level: int = typer.Option(..., help="Level 1, 2 or 3"),
    designated: bool = typer.Option(True, "--designated/--not-designated"),
    province_direct: bool = typer.Option(
        False, "--province-direct/--no-province-direct", help="Province-wide direct settlement"
    ),
    city_code: str | None = typer.Option(None, help="6-digit city code; default: this node's"),
) -> None:
    """Register a medical institution."""
    node = open_from_environment()
    with node.transaction() as session:
        row = service.register_institution(
            session, code=code, name=name, level=level, designated=designated,
            province_direct=province_direct, city_code=city_code,
        )  # fmt: skip
        typer.echo(
            f"registered {row.code} {row.name}: level {row.level}, "
            f"{'designated' if row.designated else 'not designated'}, "
            f"{'province-wide direct settlement' if row.province_direct else 'local only'}"
        )


@institution_app.command("list")
def institution_list() -> None:
    """Every registered institution."""
    node = open_from_environment()
    table = Table(title="medical institutions 医疗机构")
    for column in ("code", "name", "level", "designated", "direct", "city"):
        table.add_column(column)
    with node.transaction() as session:
        for row in service.list_institutions(session):
            table.add_row(
                row.code, row.name, str(row.level), "yes" if row.designated else "no",
                "yes" if row.province_direct else "no", row.city_code,
            )  # fmt: skip
    Console(width=200).print(table)


@app.command("enrolment")
def enrolment_show(
    resident_id: int = typer.Argument(..., min=1, help="Resident id"),
) -> None:
    """A resident's enrolments, payments and why cover starts when it does."""
    node = open_from_environment()
    with node.transaction() as session:
        enrolments = service.enrolments_of(session, resident_id)
        payments = service.contributions_of(session, resident_id)
        if not enrolments:
            typer.echo(f"resident {resident_id} has no enrolment")
        for row in enrolments:
            typer.echo(
                f"{row.year} {row.category}: due {format_yuan(row.amount_due)}, "
                f"{'paid' if row.paid else 'unpaid'}, covered from {row.covered_from or '-'}"
            )
            for line in row.explanation:
                typer.echo(f"  - {line}")
        for payment in payments:
            typer.echo(
                f"payment {payment.id}: {payment.year} {format_yuan(payment.amount)} by "
                f"{payment.channel.value} on {payment.paid_on} ({payment.status.value})"
            )


@app.command("transfers")
def transfers_list(
    overdue: bool = typer.Option(False, "--overdue", help="Only open transfers past a deadline"),
) -> None:
    """Transfers between cities (医保关系转移接续) with their working-day deadlines."""
    node = open_from_environment()
    table = Table(title="medical transfers 转移接续" + (" — overdue 超期" if overdue else ""))
    for column in ("id", "side", "status", "resident", "from", "to", "requested", "due", "late"):
        table.add_column(column)
    with node.transaction() as session:
        views = service.list_transfers(session, overdue=overdue)
        for view in views:
            case = view.case
            due = case.new_city_due if case.status.value == "received" else case.old_city_due
            table.add_row(
                str(case.id), case.role.value, case.status.value, str(case.resident_id or "-"),
                case.old_city_code, case.new_city_code, str(case.requested_on),
                f"{due} (all by {case.end_to_end_due})", "; ".join(view.overdue) or "-",
            )  # fmt: skip
    Console(width=240).print(table)
    typer.echo(f"{len(views)} transfer(s)" + (" overdue" if overdue else ""))
