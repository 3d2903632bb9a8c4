"""``ykt bundle``: "一件事" bundled applications at the counter.

``newborn|retirement|death`` submit one (and run its tasks), ``list`` and ``show`` follow them,
``retry`` runs a failed task again once its cause is fixed, ``run`` re-runs an application
(``--all`` also the done tasks, which find their earlier effect and change nothing).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from yikatong.bundles.models import BundleKind, BundleStatus
from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.cliargs import parse_date as _date
from yikatong.core.errors import InvalidInput
from yikatong.core.money import parse_yuan

app = typer.Typer(help="一件事: bundled applications and their tasks.", no_args_is_help=True)
_ACTOR_HELP = "Who acts (recorded on the application and the tasks)"


def _show(application_id: int) -> None:
    from yikatong.bundles import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        application = service.get_application(session, application_id)
        table = Table(
            title=f"application {application.id} · {application.kind.value} · "
            f"{application.subject_label} · {application.status.value}"
        )
        for column in ("task", "id", "domain", "state", "due", "attempts", "outcome"):
            table.add_column(column)
        for task in service.tasks_of(session, application.id):
            due = task.due_on.isoformat() + (" overdue" if service.is_overdue(task) else "")
            table.add_row(
                task.kind.value,
                str(task.id),
                task.domain,
                task.state.value,
                due,
                str(task.attempts),
                task.outcome or "",
            )
    Console().print(table)


@app.command("newborn")
def newborn(
    parent: int = typer.Option(..., "--parent", help="Resident id of the parent who applies"),
    id_number: str = typer.Option(..., "--id-number", help="The newborn's ID number"),
    name: str = typer.Option(..., "--name", help="The newborn's name"),
    channel: str = typer.Option(
        ..., "--channel", help="family (parent's personal account), bank, app or tax"
    ),
    reference: str | None = typer.Option(None, "--reference", help="Payment reference"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """出生一件事: register, insure without waiting period, apply for the card."""
    from pydantic import ValidationError

    from yikatong.bundles import service
    from yikatong.node import open_from_environment

    try:
        data = service.NewbornInput.model_validate(
            {
                "parent_resident_id": parent,
                "id_number": id_number,
                "name": name,
                "contribution_channel": channel,
                "payment_reference": reference,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(first["msg"], field=str(first["loc"][0])) from None
    node = open_from_environment()
    with node.transaction() as session:
        application_id = service.submit_newborn(session, data, actor=_actor(actor)).id
    _show(application_id)


@app.command("retirement")
def retirement(
    resident: int = typer.Option(..., "--resident", help="Resident id of the retiree"),
    retire_on: str = typer.Option(..., "--retire-on", help="Retirement date YYYY-MM-DD"),
    pension: str = typer.Option(..., "--pension", help="Approved monthly pension in yuan"),
    programme: str | None = typer.Option(None, "--programme", help="Pension programme code"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """退休一件事: pension, medical status, card category, certification schedule."""
    from yikatong.bundles import service
    from yikatong.node import open_from_environment

    amount = parse_yuan(pension, field="pension")
    if amount <= 0:
        raise InvalidInput("the monthly pension must be positive", field="pension")
    data = service.RetirementInput(
        resident_id=resident,
        retire_on=_date(retire_on, "retire_on"),
        monthly_pension=amount,
        programme_code=programme,
    )
    node = open_from_environment()
    with node.transaction() as session:
        application_id = service.submit_retirement(session, data, actor=_actor(actor)).id
    _show(application_id)


@app.command("death")
def death(
    resident: int = typer.Option(..., "--resident", help="Resident id of the deceased"),
    died_on: str = typer.Option(..., "--died-on", help="Date of death YYYY-MM-DD"),
    applicant: int = typer.Option(..., "--applicant", help="Resident id of the relative"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """身后一件事: cards cancelled, payments stopped, funeral grant, overpayments recovered."""
    from yikatong.bundles import service
    from yikatong.node import open_from_environment

    data = service.DeathInput(
        resident_id=resident, died_on=_date(died_on, "died_on"), applicant_resident_id=applicant
    )
    node = open_from_environment()
    with node.transaction() as session:
        application_id = service.submit_death(session, data, actor=_actor(actor)).id
    _show(application_id)


@app.command("list")
def list_applications(
    status: BundleStatus | None = typer.Option(None, "--status", help="Only this status"),
    kind: BundleKind | None = typer.Option(None, "--kind", help="Only this kind"),
    limit: int = typer.Option(100, "--limit", help="At most this many, newest first"),
) -> None:
    """Applications, newest first, with how many tasks are done."""
    from yikatong.bundles import service
    from yikatong.bundles.models import TaskState
    from yikatong.node import open_from_environment

    node = open_from_environment()
    table = Table(title="bundled applications")
    for column in ("id", "kind", "subject", "status", "submitted", "tasks done", "failed"):
        table.add_column(column)
    with node.transaction() as session:
        for application in service.list_applications(
            session, status=status, kind=kind, limit=limit
        ):
            tasks = service.tasks_of(session, application.id)
            table.add_row(
                str(application.id),
                application.kind.value,
                application.subject_label,
                application.status.value,
                application.submitted_on.isoformat(),
                f"{sum(t.state is TaskState.DONE for t in tasks)}/{len(tasks)}",
                ", ".join(str(t.id) for t in tasks if t.state is TaskState.FAILED) or "—",
            )
    Console().print(table)


@app.command("show")
def show(application_id: int = typer.Argument(..., help="Application id")) -> None:
    """One application: its status and every task with deadline and outcome."""
    _show(application_id)


@app.command("retry")
def retry(
    task_id: int = typer.Argument(..., help="Id of the failed task"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Retry a failed task (after fixing its cause); the tasks waiting on it follow."""
    from yikatong.bundles import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        application_id = service.retry_task(session, task_id, actor=_actor(actor)).id
    _show(application_id)


@app.command("run")
def run(
    application_id: int = typer.Argument(..., help="Application id"),
    include_done: bool = typer.Option(False, "--all", help="Also re-check the done tasks"),
    actor: str | None = typer.Option(None, "--actor", help=_ACTOR_HELP),
) -> None:
    """Run the tasks of an application that are not done (all of them with --all)."""
    from yikatong.bundles import service
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        service.run_application(
            session, application_id, actor=_actor(actor), include_done=include_done
        )
    _show(application_id)
