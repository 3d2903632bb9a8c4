"""``ykt certify``: pension qualification certification (社保资格认证).

``run --engine duckdb|spark --as-of DATE`` certifies every retiree and acts on the outcome;
``report`` prints the certification rate by district and channel against the target;
``expiring`` lists who runs out soon; ``work-list`` gives each district its fallback work
(service point invitations, home visits); ``import`` loads evidence files; ``record`` enters a
service-point or home-visit result; ``idp add|list`` registers identity providers' keys.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.errors import InvalidInput
from yikatong.node import Node, open_from_environment

app = typer.Typer(
    help="Pension qualification certification (资格认证): run, report, work lists.",
    no_args_is_help=True,
)
idp_app = typer.Typer(help="Identity providers whose signed face checks are accepted.")
app.add_typer(idp_app, name="idp")

_DEMO_HELP = "Accept illustrative policy values (demo only); also YKT_DEMO=true"


def _console() -> Console:
    return Console()


def _day(text: str | None, field: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date; write YYYY-MM-DD", field=field) from None


def _open(demo: bool) -> Node:
    node = open_from_environment()
    if demo:
        node.settings.demo = True
    return node


@app.command("run")
def run(
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or spark"),
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD (default: today)"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
    actor: str | None = typer.Option(None, "--actor", help="Who runs it (recorded)"),
) -> None:
    """Certify every retiree as of a day: stop, suspend, resume and back-pay as the rules say."""
    from yikatong.certification import service
    from yikatong.core import clock

    if engine not in ("duckdb", "spark"):
        raise InvalidInput(f"unknown engine {engine!r}; use duckdb or spark", field="engine")
    node = _open(demo)
    day = _day(as_of, "as_of") or clock.today()
    with node.transaction() as session:
        outcome = service.run_certification(
            session,
            as_of=day,
            engine=engine,  # type: ignore[arg-type]
            actor=_actor(actor),
            allow_illustrative=node.settings.demo,
        )
    counts = ", ".join(f"{status} {count}" for status, count in outcome.by_status.items())
    _console().print(
        f"certification run {outcome.run_id} as of {outcome.as_of} ({engine}): "
        f"{outcome.retirees} retirees: {counts}; newly suspended {outcome.newly_suspended}, "
        f"resumed with back-pay owed {outcome.resumed}, overpaid lines booked "
        f"{outcome.overpaid_lines}",
        highlight=False,
    )


@app.command("report")
def report(
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD (default: today)"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
) -> None:
    """Certification rate by district and channel against the target (≥99%)."""
    from yikatong.certification import rules, service

    node = _open(demo)
    with node.transaction() as session:
        result = service.rate_report(
            session, as_of=_day(as_of, "as_of"), allow_illustrative=node.settings.demo
        )
    table = Table(
        title=f"certification rate as of {result.as_of} (target ≥{result.target_percent}%)"
    )
    for column in ("district", "retirees", "certified", "rate", *rules.CHANNELS, "target"):
        table.add_column(column, justify="right")
    for row in [*result.districts, result.total]:
        table.add_row(
            row.district_code,
            str(row.retirees),
            str(row.certified),
            f"{row.rate * 100:.2f}%",
            *(str(row.by_channel.get(c, 0)) for c in rules.CHANNELS),
            "met" if row.meets_target else "MISSED",
        )
    _console().print(table)
    if result.excluded_negative:
        _console().print(f"{result.excluded_negative} retiree(s) with negative evidence excluded")


@app.command("expiring")
def expiring(
    within: int | None = typer.Option(None, "--within", help="Days (policy default if absent)"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
) -> None:
    """Retirees whose certification runs out soon."""
    from yikatong.certification import service

    node = _open(demo)
    with node.transaction() as session:
        items = service.expiring(session, within_days=within, allow_illustrative=node.settings.demo)
    table = Table(title=f"about to expire: {len(items)}")
    for column in ("resident", "name", "ID", "district", "valid until", "stage"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item.resident_id),
            item.name,
            item.id_masked,
            item.district_code,
            str(item.valid_until),
            item.stage or "—",
        )
    _console().print(table)


@app.command("work-list")
def work_list(
    stage: str = typer.Option(
        "home_visit", "--stage", help="app_face, service_point or home_visit"
    ),
    district: str | None = typer.Option(None, "--district", help="6-digit district code"),
) -> None:
    """Each district's fallback work: who to invite or visit, with address."""
    from yikatong.certification import service

    node = _open(False)
    with node.transaction() as session:
        grouped = service.work_list(session, stage=stage, district_code=district)
    if not grouped:
        _console().print(f"nobody at the {stage} stage")
        return
    for code, items in grouped.items():
        table = Table(title=f"district {code}: {stage}, {len(items)} retiree(s)")
        for column in ("resident", "name", "ID", "address", "status", "valid until"):
            table.add_column(column)
        for item in items:
            table.add_row(
                str(item.resident_id),
                item.name,
                item.id_masked,
                item.address or "—",
                item.status,
                str(item.valid_until or "—"),
            )
        _console().print(table)


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or Parquet file"),
    kind: str = typer.Option(
        ..., "--kind", help="hospital_admission, travel_check, death, imprisonment, emigration"
    ),
    source: str = typer.Option(..., "--source", help="Who sent it, e.g. qd-civil-affairs"),
    actor: str | None = typer.Option(None, "--actor", help="Who imports (recorded)"),
) -> None:
    """Import an evidence file; a bad file is refused whole with its line numbers."""
    from yikatong.certification import service

    file_format = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    node = _open(False)
    with node.transaction() as session:
        outcome = service.import_evidence(
            session,
            kind=kind,
            data=path.read_bytes(),
            file_format=file_format,
            source=source,
            actor=_actor(actor),
        )
    _console().print(
        f"{outcome.kind}: {outcome.rows} row(s), {outcome.added} added, {outcome.unchanged} "
        f"already known; pensions stopped {outcome.suspended}, overpaid lines "
        f"{outcome.overpaid_lines}",
        highlight=False,
    )


@app.command("record")
def record(
    resident_id: int = typer.Argument(..., min=1, help="Resident id"),
    channel: str = typer.Option(..., "--channel", help="service_point or home_visit"),
    reference: str = typer.Option(..., "--reference", help="Visit or ticket reference"),
    outcome: str = typer.Option("alive", "--outcome", help="alive or deceased"),
    day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD (default: today)"),
    demo: bool = typer.Option(False, "--demo", help=_DEMO_HELP),
    actor: str | None = typer.Option(None, "--actor", help="Staff member (recorded)"),
) -> None:
    """Record a service-point or home-visit result."""
    from yikatong.certification import service
    from yikatong.core import clock

    node = _open(demo)
    with node.transaction() as session:
        result = service.record_channel_result(
            session,
            resident_id,
            channel=channel,
            outcome=outcome,
            day=_day(day, "day") or clock.today(),
            reference=reference,
            actor=_actor(actor),
        )
    if isinstance(result, service.Certified):
        _console().print(
            f"resident {resident_id} certified on {result.certified_on} by {result.channel}, "
            f"valid until {result.valid_until}; months owed {result.months_owed}",
            highlight=False,
        )
    else:
        _console().print(
            f"resident {resident_id}: pension stopped ({result.suspended}), overpaid lines "
            f"{result.overpaid_lines} ({result.overpaid_fen} fen)",
            highlight=False,
        )


@idp_app.command("add")
def idp_add(
    code: str = typer.Argument(..., help="Provider code, e.g. ykt-face"),
    algorithm: str = typer.Option(..., "--algorithm", help="SM2 or Ed25519"),
    public_key: str = typer.Option(..., "--public-key", help="Public key, hex"),
    name: str = typer.Option("", "--name", help="Display name"),
    actor: str | None = typer.Option(None, "--actor", help="Who registers (recorded)"),
) -> None:
    """Register an identity provider's public key."""
    from yikatong.certification import service

    node = _open(False)
    with node.transaction() as session:
        provider = service.register_identity_provider(
            session,
            code=code,
            name=name,
            algorithm=algorithm,
            public_key_hex=public_key,
            actor=_actor(actor),
        )
    _console().print(f"identity provider {provider.code} registered, key {provider.key_id}")


@idp_app.command("list")
def idp_list() -> None:
    """Registered identity providers."""
    from yikatong.certification import service

    node = _open(False)
    table = Table(title="identity providers")
    for column in ("code", "name", "algorithm", "key id", "active"):
        table.add_column(column)
    with node.transaction() as session:
        for p in service.list_identity_providers(session):
            table.add_row(p.code, p.name, p.algorithm, p.key_id, "yes" if p.active else "no")
    _console().print(table)
