"""``ykt appraisal``: labour-capacity appraisal (劳动能力鉴定).

``expert add|list|conflict`` keeps the shared pool; ``open`` → ``draw`` (``--seed`` to replay)
→ ``decline`` (redraw a seat) → ``conclude`` signs the grade; ``delegate`` sends a case to the
city where the person lives; ``verify FILE`` checks another city's signed conclusion and
``recognise FILE`` records it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from yikatong.appraisal import service
from yikatong.appraisal.policy import AppraisalKind, InjuryCategory

# Imported here, not per command: it registers the federation handlers of the domain, so that
# `ykt federation dead-letters replay` can apply its messages.
from yikatong.core.cliargs import operator_name as _actor
from yikatong.core.errors import InvalidInput

app = typer.Typer(
    help="Labour-capacity appraisal (劳动能力鉴定) and the shared expert pool.",
    no_args_is_help=True,
)
expert_app = typer.Typer(help="The shared expert pool (鉴定专家库).", no_args_is_help=True)
app.add_typer(expert_app, name="expert")

_ACTOR = typer.Option(None, "--actor", help="Who acts (recorded in the case history)")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="path") from None


@expert_app.command("add")
def expert_add(
    code: str = typer.Argument(..., help="Expert code, e.g. QD-031"),
    name: str = typer.Option(..., "--name"),
    city: str = typer.Option(..., "--city", help="City code of the expert"),
    employer: str = typer.Option(..., "--employer", help="Hospital or institution"),
    speciality: list[str] = typer.Option(..., "--speciality", help="Repeat for several"),
    resident_id: int | None = typer.Option(None, "--resident", min=1, help="Registry link"),
    actor: str | None = _ACTOR,
) -> None:
    """Add an expert to the pool."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        expert = service.add_expert(
            session,
            code=code,
            name=name,
            city_code=city,
            employer=employer,
            specialities=speciality,
            resident_id=resident_id,
            actor=_actor(actor),
        )
        Console().print(f"expert {expert.id} ({expert.code}) added")


@expert_app.command("list")
def expert_list(
    speciality: str | None = typer.Option(None, "--speciality"),
    city: str | None = typer.Option(None, "--city"),
) -> None:
    """The experts of the pool."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    table = Table("id", "code", "name", "city", "employer", "specialities", "active")
    with node.transaction() as session:
        for e in service.list_experts(session, speciality=speciality, city_code=city):
            table.add_row(
                str(e.id),
                e.code,
                e.name,
                e.city_code,
                e.employer,
                ", ".join(e.specialities),
                "yes" if e.active else "no",
            )
    Console(width=200).print(table)


@expert_app.command("publish")
def expert_publish(
    to: list[str] = typer.Option(..., "--to", help="City to send this city's experts to"),
) -> None:
    """Send this city's experts to other cities (they join those cities' pools)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        count = service.publish_pool(session, to)
    Console().print(f"{count} expert(s) queued for {', '.join(sorted(set(to)))}")


@expert_app.command("conflict")
def expert_conflict(
    expert_id: int = typer.Argument(..., min=1),
    reason: str = typer.Option(..., "--reason"),
    resident_id: int | None = typer.Option(None, "--resident", min=1),
    employer: str | None = typer.Option(None, "--employer"),
) -> None:
    """Record a conflict the expert declared (with a resident or an employer)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        conflict = service.declare_conflict(
            session, expert_id, reason=reason, resident_id=resident_id, employer=employer
        )
        Console().print(f"conflict {conflict.id} recorded for expert {expert_id}")


@app.command("open")
def open_case(
    resident_id: int = typer.Argument(..., min=1),
    kind: AppraisalKind = typer.Option(..., "--kind"),
    category: InjuryCategory = typer.Option(..., "--category"),
    employer: str = typer.Option(..., "--employer", help="The person's employer"),
    actor: str | None = _ACTOR,
) -> None:
    """Open an appraisal case."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        case = service.open_case(
            session,
            resident_id,
            kind=kind,
            category=category,
            employer=employer,
            actor=_actor(actor),
        )
        Console().print(f"case {case.id} ({case.case_ref}) opened")


@app.command("draw")
def draw(
    case_id: int = typer.Argument(..., min=1),
    seed: str | None = typer.Option(None, "--seed", help="Replay a draw with this seed"),
    actor: str | None = _ACTOR,
) -> None:
    """Draw the case's panel at random (the seed is recorded)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        seats = service.draw_panel(session, case_id, actor=_actor(actor), seed=seed)
        case = service.get_case(session, case_id)
        console = Console()
        console.print(f"case {case_id}: seed {case.seed}")
        for s in seats:
            console.print(
                f"  seat {s.seat_no} {s.speciality}: expert {s.expert_id} "
                f"(of {len(s.candidates)} eligible, {len(s.excluded)} excluded)"
            )


@app.command("decline")
def decline(
    case_id: int = typer.Argument(..., min=1),
    seat_no: int = typer.Argument(..., min=1, max=9),
    reason: str = typer.Option(..., "--reason"),
    actor: str | None = _ACTOR,
) -> None:
    """The seated expert declines; the seat is drawn again."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        seat = service.decline_seat(session, case_id, seat_no, reason=reason, actor=_actor(actor))
        Console().print(f"seat {seat_no} redrawn (round {seat.round}): expert {seat.expert_id}")


@app.command("conclude")
def conclude(
    case_id: int = typer.Argument(..., min=1),
    grade: str = typer.Option(
        ..., "--grade", help="1–10 or none; non_work: complete/major/partial/none"
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the signed conclusion"),
    actor: str | None = _ACTOR,
) -> None:
    """Record the grade as a signed conclusion."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        case = service.conclude(session, case_id, grade=grade, actor=_actor(actor))
        document = case.conclusion
    if output is not None:
        output.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    Console().print(
        f"case {case_id} concluded: grade {grade}" + (f"; written to {output}" if output else "")
    )


@app.command("delegate")
def delegate(
    case_id: int = typer.Argument(..., min=1),
    to_city: str = typer.Option(..., "--to", help="City where the person lives"),
    actor: str | None = _ACTOR,
) -> None:
    """Delegate an open case to another city (异地委托鉴定)."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    with node.transaction() as session:
        service.delegate(session, case_id, to_city=to_city, actor=_actor(actor))
        Console().print(f"case {case_id} delegated to {to_city}")


@app.command("cases")
def cases() -> None:
    """The appraisal cases of this city, newest first."""
    from yikatong.node import open_from_environment

    node = open_from_environment()
    table = Table("id", "case", "kind", "category", "status", "grade", "delegated")
    with node.transaction() as session:
        for c in service.list_cases(session):
            delegated = (
                f"to {c.delegated_to}"
                if c.delegated_to
                else (f"by {c.delegated_from}" if c.delegated_from else "")
            )
            table.add_row(
                str(c.id),
                c.case_ref[:8],
                c.kind.value,
                c.category.value,
                c.status.value,
                c.grade or "",
                delegated,
            )
    Console(width=200).print(table)


@app.command("verify")
def verify(path: Path = typer.Argument(..., help="A signed conclusion (JSON)")) -> None:
    """Verify a signed conclusion of any trusted city (nothing is recorded)."""
    from yikatong.node import open_from_environment

    document = _read_json(path)
    open_from_environment()
    verified = service.verify_conclusion(document, service.trust_list())
    Console().print(
        f"valid: case {verified.case_ref} of city {verified.city_code}, grade {verified.grade}, "
        f"concluded {verified.concluded_on}, person {verified.id_masked}"
    )


@app.command("recognise")
def recognise(path: Path = typer.Argument(..., help="A signed conclusion (JSON)")) -> None:
    """Verify and recognise another city's conclusion (结论互认)."""
    from yikatong.node import open_from_environment

    document = _read_json(path)
    node = open_from_environment()
    with node.transaction() as session:
        service.recognise_conclusion(session, document, received_from=f"cli:{_actor(None)}")
    Console().print(f"conclusion {document.get('case_ref')} recognised")
