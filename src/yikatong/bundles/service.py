"""Use cases of "一件事" bundled applications: one application, several domains, one status.

A resident (or a clerk at the counter) submits one application for a life event; it spawns the
back-office tasks of every domain involved, each with a deadline in working days
(``policies/<city>/bundles-<year>.yaml``, counted by ``core.calendar``):

* **retirement** (退休): pension beneficiary from the month after retirement (benefits), retiree
  medical status (medical), card category from the pension start (cards), yearly certification
  schedule (certification);
* **newborn** (出生): registry entry linked to the parent (registry), medical enrolment paid in
  the first year, so without a waiting period (medical), card application (cards);
* **death** (身后): death recorded (registry), cards cancelled (cards), payments stopped and a
  funeral grant to the relative who applied (benefits), every payment for a month after the
  month of death booked as owed back, a ledger receivable (benefits → ledger).

Each task calls the domain's service inside a savepoint: a refusal rolls back only that task,
which is recorded as failed with the domain's message, for a clerk to retry once the cause is
fixed. Tasks are idempotent: each first looks for what an earlier run did (rows created by the
application's actor ``bundle:<id>``, ledger idempotency keys, the domain's own idempotency key),
so re-running an application never repeats an effect. A task whose domain is not on this node is
recorded as waiting for that domain, never as done.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BenefitProgramme, LineStatus
from yikatong.bundles.models import (
    BundleApplication,
    BundleKind,
    BundleStatus,
    BundleTask,
    TaskKind,
    TaskState,
)
from yikatong.cards import service as cards
from yikatong.core import calendar, clock
from yikatong.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyError,
)
from yikatong.core.ids import age_on, mask_resident_id, parse_resident_id
from yikatong.core.money import format_yuan, parse_yuan
from yikatong.core.policy import load_policy_file, packaged_policy_path
from yikatong.crypto.sm4 import sm4_gcm_decrypt, sm4_gcm_encrypt
from yikatong.medical import service as medical
from yikatong.registry import service as registry

_POLICY_CITY = "qingdao"
_SEAL_AD = b"bundle_application.private_enc"
LIST_LIMIT_MAX = 500

# The tasks of each bundle, in the order they run.
TASKS: dict[BundleKind, tuple[TaskKind, ...]] = {
    BundleKind.RETIREMENT: (
        TaskKind.PENSION_START,
        TaskKind.MEDICAL_STATUS,
        TaskKind.CARD_CATEGORY,
        TaskKind.CERTIFICATION_SCHEDULE,
    ),
    BundleKind.NEWBORN: (
        TaskKind.REGISTRY_ENTRY,
        TaskKind.MEDICAL_ENROLMENT,
        TaskKind.CARD_APPLICATION,
    ),
    BundleKind.DEATH: (
        TaskKind.DEATH_REGISTRATION,
        TaskKind.CARD_CANCELLATION,
        TaskKind.PAYMENTS_STOP,
        TaskKind.FUNERAL_GRANT,
        TaskKind.OVERPAYMENT_RECOVERY,
    ),
}
DOMAIN: dict[TaskKind, str] = {
    TaskKind.PENSION_START: "benefits",
    TaskKind.MEDICAL_STATUS: "medical",
    TaskKind.CARD_CATEGORY: "cards",
    TaskKind.CERTIFICATION_SCHEDULE: "certification",
    TaskKind.REGISTRY_ENTRY: "registry",
    TaskKind.MEDICAL_ENROLMENT: "medical",
    TaskKind.CARD_APPLICATION: "cards",
    TaskKind.DEATH_REGISTRATION: "registry",
    TaskKind.CARD_CANCELLATION: "cards",
    TaskKind.PAYMENTS_STOP: "benefits",
    TaskKind.FUNERAL_GRANT: "benefits",
    TaskKind.OVERPAYMENT_RECOVERY: "benefits",
}
# A task runs only once the task it needs is done (the newborn must exist before it is insured).
NEEDS: dict[TaskKind, TaskKind] = {
    TaskKind.MEDICAL_ENROLMENT: TaskKind.REGISTRY_ENTRY,
    TaskKind.CARD_APPLICATION: TaskKind.REGISTRY_ENTRY,
    TaskKind.CARD_CANCELLATION: TaskKind.DEATH_REGISTRATION,
    TaskKind.PAYMENTS_STOP: TaskKind.DEATH_REGISTRATION,
    TaskKind.FUNERAL_GRANT: TaskKind.DEATH_REGISTRATION,
    TaskKind.OVERPAYMENT_RECOVERY: TaskKind.PAYMENTS_STOP,
}


# --------------------------------------------------------------------------- policy


class Deadlines(BaseModel):
    """Working days each task has, from the day the application is submitted."""

    model_config = ConfigDict(extra="forbid")

    pension_start: StrictInt = Field(ge=0, le=120)
    medical_status: StrictInt = Field(ge=0, le=120)
    card_category: StrictInt = Field(ge=0, le=120)
    certification_schedule: StrictInt = Field(ge=0, le=120)
    registry_entry: StrictInt = Field(ge=0, le=120)
    medical_enrolment: StrictInt = Field(ge=0, le=120)
    card_application: StrictInt = Field(ge=0, le=120)
    death_registration: StrictInt = Field(ge=0, le=120)
    card_cancellation: StrictInt = Field(ge=0, le=120)
    payments_stop: StrictInt = Field(ge=0, le=120)
    funeral_grant: StrictInt = Field(ge=0, le=120)
    overpayment_recovery: StrictInt = Field(ge=0, le=120)

    def of(self, kind: TaskKind) -> int:
        days: int = getattr(self, kind.value)
        return days


class ProgrammeCodes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pension: str = Field(min_length=2, max_length=32)
    funeral_grant: str = Field(min_length=2, max_length=32)


class BundlesPolicy(BaseModel):
    """``policies/<city>/bundles-<year>.yaml``; every value is required."""

    model_config = ConfigDict(extra="forbid")

    city: str
    city_code: str = Field(pattern=r"^\d{6}$")
    year: StrictInt
    deadlines: Deadlines
    programmes: ProgrammeCodes
    funeral_grant_amount: int = Field(description="fen (yuan in the YAML)")

    @field_validator("funeral_grant_amount", mode="before")
    @classmethod
    def _yuan(cls, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a yuan amount such as 5000")
        fen = parse_yuan(repr(value) if isinstance(value, float) else str(value))
        if fen <= 0:
            raise ValueError("must be positive")
        return fen


def load_bundles_policy(year: int, *, allow_illustrative: bool) -> BundlesPolicy:
    """The packaged policy in force in ``year``: the newest file of that year or before."""
    for candidate in range(year, year - 30, -1):
        path = packaged_policy_path(_POLICY_CITY, f"bundles-{candidate}.yaml")
        if path.exists():
            return load_policy_file(
                Path(path), BundlesPolicy, allow_illustrative=allow_illustrative
            )
    raise PolicyError(f"no bundles policy of {_POLICY_CITY} for {year} or any earlier year")


def _policy(year: int) -> BundlesPolicy:
    """The node's policy: illustrative values are accepted on a demo node only."""
    return load_bundles_policy(year, allow_illustrative=current_node.current().settings.demo)


# --------------------------------------------------------------------------- inputs


class RetirementInput(BaseModel):
    """退休一件事: the pension was approved; start it and everything that follows from it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resident_id: int = Field(ge=1, le=2_147_483_647)
    retire_on: dt.date = Field(description="Retirement date; the pension starts the next month")
    monthly_pension: int = Field(gt=0, description="Approved monthly pension in fen")
    programme_code: str | None = Field(
        default=None, max_length=32, description="Pension programme; the policy's if absent"
    )


class NewbornInput(BaseModel):
    """出生一件事: a parent registers the newborn, insures it and applies for its card."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    parent_resident_id: int = Field(ge=1, le=2_147_483_647)
    id_number: str = Field(max_length=18, description="The newborn's ID number (户口登记)")
    name: str = Field(min_length=1, max_length=64)
    contribution_channel: Literal["family", "bank", "app", "tax"] = Field(
        description="family: from the parent's employee personal account (家庭共济); "
        "bank/app/tax: already paid there, give its reference"
    )
    payment_reference: str | None = Field(default=None, max_length=64)


class DeathInput(BaseModel):
    """身后一件事: a relative reports a death; cards, payments, funeral grant, overpayments."""

    model_config = ConfigDict(extra="forbid")

    resident_id: int = Field(ge=1, le=2_147_483_647, description="The deceased")
    died_on: dt.date
    applicant_resident_id: int = Field(
        ge=1, le=2_147_483_647, description="The relative who applies and receives the grant"
    )


# --------------------------------------------------------------------------- submission


def _tag(application: BundleApplication) -> str:
    """The actor recorded on every row a task creates: how a re-run recognises its own work."""
    return f"bundle:{application.id}"


def _seal(payload: dict[str, str]) -> bytes:
    key = current_node.current().data_keys.encryption_key
    return sm4_gcm_encrypt(key, json.dumps(payload, sort_keys=True).encode(), _SEAL_AD)


def _unseal(application: BundleApplication) -> dict[str, str]:
    if application.private_enc is None:
        raise Conflict(f"application {application.id} carries no sealed personal data")
    key = current_node.current().data_keys.encryption_key
    data: dict[str, str] = json.loads(sm4_gcm_decrypt(key, application.private_enc, _SEAL_AD))
    return data


def _create(
    session: Session,
    kind: BundleKind,
    *,
    dedupe_key: str,
    applicant: int | None,
    subject: int | None,
    label: str,
    details: dict[str, object],
    actor: str,
    private: dict[str, str] | None = None,
) -> BundleApplication:
    earlier = session.scalar(
        select(BundleApplication.id).where(BundleApplication.dedupe_key == dedupe_key)
    )
    if earlier is not None:
        raise Conflict(
            f"this {kind.value} was already applied for as application {earlier}; "
            "follow that one (a failed step is retried by a clerk)",
            application_id=earlier,
        )
    today = clock.today()
    policy = _policy(today.year)
    now = clock.now()
    application = BundleApplication(
        kind=kind,
        dedupe_key=dedupe_key,
        applicant_resident_id=applicant,
        subject_resident_id=subject,
        subject_label=label[:80],
        details=details,
        private_enc=_seal(private) if private else None,
        status=BundleStatus.IN_PROGRESS,
        submitted_on=today,
        created_at=now,
        created_by=actor[:64],
    )
    session.add(application)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"this {kind.value} was applied for at the same moment by someone else; "
            "list the applications to follow it"
        ) from None
    for position, task_kind in enumerate(TASKS[kind]):
        session.add(
            BundleTask(
                application_id=application.id,
                kind=task_kind,
                position=position,
                domain=DOMAIN[task_kind],
                state=TaskState.PENDING,
                due_on=calendar.add_working_days(today, policy.deadlines.of(task_kind)),
                attempts=0,
                updated_at=now,
                updated_by=actor[:64],
            )
        )
    session.flush()
    return application


def _living(session: Session, resident_id: int, field: str) -> registry.Resident:
    resident = registry.get_resident(session, resident_id)
    if resident.status == registry.ResidentStatus.DECEASED:
        raise InvalidInput(f"resident {resident_id} is recorded as deceased", field=field)
    return resident


def submit_retirement(session: Session, data: RetirementInput, *, actor: str) -> BundleApplication:
    """Submit a retirement bundle and run its tasks."""
    resident = _living(session, data.resident_id, "resident_id")
    if data.retire_on > clock.today() + dt.timedelta(days=366):
        raise InvalidInput("the retirement date is more than a year ahead", field="retire_on")
    if data.retire_on <= resident.birth_date:
        raise InvalidInput("the retirement date is before the birth date", field="retire_on")
    application = _create(
        session,
        BundleKind.RETIREMENT,
        dedupe_key=f"retirement:{resident.id}",
        applicant=resident.id,
        subject=resident.id,
        label=f"{resident.name} {resident.id_masked}",
        details={
            "retire_on": data.retire_on.isoformat(),
            "monthly_pension": data.monthly_pension,
            "programme_code": data.programme_code,
        },
        actor=actor,
    )
    return run_application(session, application.id, actor=actor)


def submit_newborn(session: Session, data: NewbornInput, *, actor: str) -> BundleApplication:
    """Submit a newborn bundle (the parent applies) and run its tasks."""
    parent = _living(session, data.parent_resident_id, "parent_resident_id")
    rid = parse_resident_id(data.id_number, field="id_number")
    today = clock.today()
    if rid.birth_date > today:
        raise InvalidInput("the ID number encodes a birth date in the future", field="id_number")
    if age_on(rid.birth_date, today) >= 1:
        raise InvalidInput(
            f"born {rid.birth_date}: the newborn bundle is for a child in its first year; "
            "enrol an older child at the counter",
            field="id_number",
        )
    reference = (data.payment_reference or "").strip() or None
    if data.contribution_channel == "family":
        if reference is not None:
            raise InvalidInput(
                "a family payment comes from the parent's account and has no reference",
                field="payment_reference",
            )
    elif reference is None:
        raise InvalidInput(
            f"a {data.contribution_channel} payment needs its payment reference",
            field="payment_reference",
        )
    application = _create(
        session,
        BundleKind.NEWBORN,
        dedupe_key=f"newborn:{registry.search_hash(rid.number)}",
        applicant=parent.id,
        subject=None,
        label=f"{data.name} {mask_resident_id(rid.number)}",
        details={
            "name": data.name,
            "id_masked": mask_resident_id(rid.number),
            "birth_date": rid.birth_date.isoformat(),
            "contribution_channel": data.contribution_channel,
            "payment_reference": reference,
        },
        private={"id_number": rid.number},
        actor=actor,
    )
    return run_application(session, application.id, actor=actor)


def submit_death(session: Session, data: DeathInput, *, actor: str) -> BundleApplication:
    """Submit a death bundle (a registered relative applies) and run its tasks."""
    deceased = registry.get_resident(session, data.resident_id)
    applicant = _living(session, data.applicant_resident_id, "applicant_resident_id")
    if registry.relation_between(session, applicant.id, deceased.id) is None:
        raise Forbidden(
            f"resident {applicant.id} is not a registered relative of resident {deceased.id}; "
            "a relative applies, or a clerk at the counter after checking the documents",
            applicant_resident_id=applicant.id,
        )
    if data.died_on > clock.today():
        raise InvalidInput("the date of death cannot be in the future", field="died_on")
    if data.died_on < deceased.birth_date:
        raise InvalidInput("the date of death is before the birth date", field="died_on")
    application = _create(
        session,
        BundleKind.DEATH,
        dedupe_key=f"death:{deceased.id}",
        applicant=applicant.id,
        subject=deceased.id,
        label=f"{deceased.name} {deceased.id_masked}",
        details={"died_on": data.died_on.isoformat()},
        actor=actor,
    )
    return run_application(session, application.id, actor=actor)


# --------------------------------------------------------------------------- running


class WaitingForDomain(Exception):
    """The task's domain is not on this node: the task waits, it is not done."""


@dataclass(frozen=True, slots=True)
class Done:
    outcome: str
    ref: str | None = None


Handler = Callable[[Session, BundleApplication, str], Done]


def get_application(
    session: Session, application_id: int, *, lock: bool = False
) -> BundleApplication:
    application = session.get(
        BundleApplication, application_id, with_for_update=lock, populate_existing=lock
    )
    if application is None:
        raise NotFound(f"no bundled application with id {application_id}")
    return application


def tasks_of(session: Session, application_id: int) -> list[BundleTask]:
    query = select(BundleTask).where(BundleTask.application_id == application_id)
    return list(session.scalars(query.order_by(BundleTask.position)))


def get_task(session: Session, task_id: int) -> BundleTask:
    task = session.get(BundleTask, task_id)
    if task is None:
        raise NotFound(f"no bundle task with id {task_id}")
    return task


def _run_task(
    session: Session, application: BundleApplication, task: BundleTask, actor: str
) -> None:
    task.attempts += 1
    task.updated_at = clock.now()
    task.updated_by = actor[:64]
    try:
        with session.begin_nested():
            done = _HANDLERS[task.kind](session, application, actor)
    except WaitingForDomain as waiting:
        task.state = TaskState.WAITING_FOR_DOMAIN
        task.outcome = str(waiting)[:400]
        task.last_error = None
    except DomainError as refused:
        task.state = TaskState.FAILED
        task.last_error = refused.detail[:400]
        task.outcome = f"refused by {task.domain}: {refused.detail}"[:400]
    else:
        task.state = TaskState.DONE
        task.outcome = done.outcome[:400]
        task.result_ref = done.ref
        task.last_error = None
        task.done_at = clock.now()


def _settle_status(application: BundleApplication, tasks: Sequence[BundleTask]) -> None:
    states = {task.state for task in tasks}
    if states == {TaskState.DONE}:
        if application.status is not BundleStatus.COMPLETED:
            application.completed_at = clock.now()
        application.status = BundleStatus.COMPLETED
    elif TaskState.FAILED in states:
        application.status = BundleStatus.NEEDS_ATTENTION
    else:
        application.status = BundleStatus.IN_PROGRESS


def run_application(
    session: Session, application_id: int, *, actor: str, include_done: bool = False
) -> BundleApplication:
    """Run every task not done yet (pending, waiting for a domain, failed), in order.

    ``include_done`` runs the done ones too: each finds its earlier effect and changes nothing,
    which is how an operator checks a bundle after a crash or a manual change.
    """
    application = get_application(session, application_id, lock=True)
    tasks = tasks_of(session, application.id)
    by_kind = {task.kind: task for task in tasks}
    for task in tasks:
        if task.state is TaskState.DONE and not include_done:
            continue
        needed = NEEDS.get(task.kind)
        if needed is not None and by_kind[needed].state is not TaskState.DONE:
            if task.state is not TaskState.FAILED:
                task.state = TaskState.PENDING
                task.outcome = f"waits for {needed.value}"
            continue
        _run_task(session, application, task, actor)
    _settle_status(application, tasks)
    session.flush()
    return application


def retry_task(session: Session, task_id: int, *, actor: str) -> BundleApplication:
    """A clerk retries a failed task (after fixing its cause); the tasks waiting on it follow."""
    task = get_task(session, task_id)
    if task.state not in (TaskState.FAILED, TaskState.WAITING_FOR_DOMAIN):
        raise Conflict(
            f"task {task.id} ({task.kind.value}) is {task.state.value}; only a failed task or "
            "one waiting for its domain is retried"
        )
    return run_application(session, task.application_id, actor=actor)


# --------------------------------------------------------------------------- handlers


def _subject(application: BundleApplication) -> int:
    if application.subject_resident_id is None:
        raise Conflict(f"application {application.id} has no registered subject yet")
    return application.subject_resident_id


def _pension_programme(session: Session, application: BundleApplication) -> BenefitProgramme:
    code = application.details.get("programme_code")
    if not code:
        code = _policy(application.submitted_on.year).programmes.pension
    return benefits.get_programme_by_code(session, str(code))


def _pension_start(session: Session, application: BundleApplication, actor: str) -> Done:
    resident_id = _subject(application)
    programme = _pension_programme(session, application)
    retire_on = dt.date.fromisoformat(str(application.details["retire_on"]))
    first = (retire_on.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    existing = benefits.find_beneficiary(session, programme.id, resident_id)
    if existing is not None:
        if existing.created_by != _tag(application):
            raise Conflict(
                f"resident {resident_id} is already a beneficiary of {programme.code} since "
                f"{existing.first_period:%Y-%m} (enrolled by {existing.created_by}); check "
                "the case before starting the pension again"
            )
        beneficiary = existing
    else:
        beneficiary = benefits.enrol_beneficiary(
            session,
            programme.id,
            resident_id,
            actor=_tag(application),
            amount=int(application.details["monthly_pension"]),
            first_period=first,
        )
    return Done(
        f"pension of {format_yuan(beneficiary.amount or programme.amount)} yuan a month in "
        f"{programme.code} from {beneficiary.first_period:%Y-%m}, paid by the monthly batches",
        f"beneficiary:{beneficiary.id}",
    )


def _medical_status(session: Session, application: BundleApplication, actor: str) -> Done:
    raise WaitingForDomain(
        "waiting for the employee medical insurance domain (职工医保退休待遇): this node keeps "
        "resident medical insurance only, where retirement changes nothing; the retiree status "
        "is set when that domain is installed"
    )


def _card_category(session: Session, application: BundleApplication, actor: str) -> Done:
    resident_id = _subject(application)
    card = cards.current_card_of(session, resident_id)
    if card is None:
        raise Conflict(
            f"resident {resident_id} holds no live card; apply for one and retry this step"
        )
    retire_on = dt.date.fromisoformat(str(application.details["retire_on"]))
    first = (retire_on.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    before = cards.card_category(session, card, on=retire_on - dt.timedelta(days=1))
    after = cards.card_category(session, card, on=first)
    change = "unchanged" if before == after else f"was {before.value}"
    return Done(
        f"card {card.card_no}: category {after.value} from {first} ({change}); fare, canteen "
        "and venue rules read it from the registry attributes and age on that day",
        f"card:{card.card_no}",
    )


def _certification_schedule(session: Session, application: BundleApplication, actor: str) -> Done:
    raise WaitingForDomain(
        "waiting for the certification domain (社保资格认证): the yearly certification "
        "schedule is set when that domain is installed on this node"
    )


def _registry_entry(session: Session, application: BundleApplication, actor: str) -> Done:
    parent_id = application.applicant_resident_id
    assert parent_id is not None
    parent = registry.get_resident(session, parent_id)
    id_number = _unseal(application)["id_number"]
    child = registry.find_by_id_number(session, id_number)
    if child is None:
        child = registry.enrol_resident(
            session,
            registry.ResidentInput(
                id_number=id_number,
                name=str(application.details["name"]),
                district_code=parent.district_code,
                household_no=parent.household_no,
                address=parent.address,
            ),
            actor=_tag(application),
        )
    elif child.created_by != _tag(application):
        raise Conflict(
            f"ID number {child.id_masked} is already registered as resident {child.id} "
            f"(by {child.created_by}); check the birth registration"
        )
    if registry.relation_between(session, parent.id, child.id) is None:
        registry.add_relative(
            session, parent.id, child.id, registry.RelationType.CHILD, actor=_tag(application)
        )
    application.subject_resident_id = child.id
    return Done(
        f"{child.name} registered as resident {child.id}, child of resident {parent.id}",
        f"resident:{child.id}",
    )


def _medical_enrolment(session: Session, application: BundleApplication, actor: str) -> Done:
    child_id = _subject(application)
    channel = str(application.details["contribution_channel"])
    year = clock.today().year
    paid = medical.pay_contribution(
        session,
        child_id,
        year,
        channel=channel,
        idempotency_key=f"bundle-{application.id}-medical",
        actor=_tag(application),
        payer_resident_id=application.applicant_resident_id if channel == "family" else None,
        external_ref=application.details.get("payment_reference") if channel != "family" else None,
    )
    enrolment = paid.enrolment
    if enrolment.covered_from is None:
        cover = "no cover decided"
    elif enrolment.waiting_months:
        cover = f"covered from {enrolment.covered_from} after {enrolment.waiting_months} month(s)"
    else:
        cover = f"covered from {enrolment.covered_from}, no waiting period"
    return Done(
        f"enrolled for {year}, {format_yuan(paid.contribution.amount)} yuan paid by {channel}: "
        f"{cover}",
        f"contribution:{paid.contribution.id}",
    )


def _card_application(session: Session, application: BundleApplication, actor: str) -> Done:
    child_id = _subject(application)
    card = cards.current_card_of(session, child_id)
    if card is None:
        card = cards.apply_for_card(
            session, child_id, actor=_tag(application), reason=f"newborn bundle {application.id}"
        )
        what = "applied for"
    else:
        what = f"already held ({card.state.value})"
    return Done(f"card {card.card_no} {what}", f"card:{card.card_no}")


def _died_on(application: BundleApplication) -> dt.date:
    return dt.date.fromisoformat(str(application.details["died_on"]))


def _death_registration(session: Session, application: BundleApplication, actor: str) -> Done:
    resident_id = _subject(application)
    died_on = _died_on(application)
    resident = registry.get_resident(session, resident_id)
    if resident.status == registry.ResidentStatus.DECEASED:
        if resident.died_on != died_on:
            raise Conflict(
                f"resident {resident_id} is recorded as deceased on {resident.died_on}, the "
                f"application says {died_on}; correct the register or the application"
            )
        return Done(f"recorded as deceased on {died_on}", f"resident:{resident_id}")
    registry.record_death(session, resident_id, died_on, actor=_tag(application))
    return Done(f"recorded as deceased on {died_on}", f"resident:{resident_id}")


def _card_cancellation(session: Session, application: BundleApplication, actor: str) -> Done:
    resident_id = _subject(application)
    cancelled = cards.cancel_cards_of(
        session, resident_id, actor=_tag(application), reason=f"death (bundle {application.id})"
    )
    if not cancelled:
        return Done("no live card left to cancel")
    numbers = ", ".join(card.card_no for card in cancelled)
    return Done(
        f"cancelled card(s) {numbers}; terminals refuse them", f"card:{cancelled[0].card_no}"
    )


def _payments_stop(session: Session, application: BundleApplication, actor: str) -> Done:
    resident_id = _subject(application)
    stopped = benefits.stop_payments_of(session, resident_id)
    if not stopped:
        return Done("no active benefit left to stop; batches skip the deceased")
    codes = ", ".join(benefits.get_programme(session, b.programme_id).code for b in stopped)
    return Done(f"stopped {len(stopped)} benefit(s): {codes}", f"beneficiary:{stopped[0].id}")


def _next_pay_month(programme: BenefitProgramme, today: dt.date) -> dt.date:
    month = today.replace(day=1)
    for _ in range(12):
        if month.month in programme.pay_months:
            return month
        month = (month + dt.timedelta(days=32)).replace(day=1)
    raise PolicyError(f"programme {programme.code} pays in no month")


def _funeral_grant(session: Session, application: BundleApplication, actor: str) -> Done:
    applicant_id = application.applicant_resident_id
    assert applicant_id is not None
    policy = _policy(application.submitted_on.year)
    programme = benefits.get_programme_by_code(session, policy.programmes.funeral_grant)
    existing = benefits.find_beneficiary(session, programme.id, applicant_id)
    if existing is not None:
        if existing.created_by != _tag(application):
            raise Conflict(
                f"resident {applicant_id} already received {programme.code} (enrolled by "
                f"{existing.created_by}); a clerk decides on a second grant"
            )
        grant = existing
    else:
        month = _next_pay_month(programme, clock.today())
        grant = benefits.enrol_beneficiary(
            session,
            programme.id,
            applicant_id,
            actor=_tag(application),
            amount=policy.funeral_grant_amount,
            first_period=month,
            last_period=month,
        )
    return Done(
        f"funeral grant of {format_yuan(grant.amount or programme.amount)} yuan to resident "
        f"{applicant_id}, paid once by the {grant.first_period:%Y-%m} batch of {programme.code}",
        f"beneficiary:{grant.id}",
    )


def _overpayment_recovery(session: Session, application: BundleApplication, actor: str) -> Done:
    """Entitlement runs through the month of death: whatever was paid for a later month is
    booked as owed back by the benefits domain (one receivable per line, idempotent per line,
    shared with the certification domain's own death handling)."""
    resident_id = _subject(application)
    died_on = _died_on(application)
    death_month = died_on.replace(day=1)
    overpaid: list[benefits.PaymentTrace] = []
    pending: list[int] = []
    for trace in benefits.payments_of(session, resident_id):
        if trace.period <= death_month:
            continue
        if trace.status is LineStatus.PAID:
            overpaid.append(trace)
        elif trace.status is LineStatus.PENDING:
            pending.append(trace.line_id)
    if pending:
        raise Conflict(
            f"payment line(s) {', '.join(map(str, pending))} for months after the death are "
            "still with the bank; import the return file, then retry this step"
        )
    if not overpaid:
        return Done(f"nothing was paid for a month after the death on {died_on}")
    for trace in overpaid:
        benefits.claim_overpayment(
            session,
            trace.line_id,
            reason=f"paid for {trace.period:%Y-%m}, died {died_on} (bundle {application.id})",
        )
    total = sum(trace.amount for trace in overpaid)
    return Done(
        f"{len(overpaid)} payment(s) for months after the death on {died_on}: "
        f"{format_yuan(total)} yuan booked to recover (lines "
        f"{', '.join(str(t.line_id) for t in overpaid)})",
        f"account:{benefits.OVERPAYMENT_RECEIVABLE_CODE}",
    )


_HANDLERS: dict[TaskKind, Handler] = {
    TaskKind.PENSION_START: _pension_start,
    TaskKind.MEDICAL_STATUS: _medical_status,
    TaskKind.CARD_CATEGORY: _card_category,
    TaskKind.CERTIFICATION_SCHEDULE: _certification_schedule,
    TaskKind.REGISTRY_ENTRY: _registry_entry,
    TaskKind.MEDICAL_ENROLMENT: _medical_enrolment,
    TaskKind.CARD_APPLICATION: _card_application,
    TaskKind.DEATH_REGISTRATION: _death_registration,
    TaskKind.CARD_CANCELLATION: _card_cancellation,
    TaskKind.PAYMENTS_STOP: _payments_stop,
    TaskKind.FUNERAL_GRANT: _funeral_grant,
    TaskKind.OVERPAYMENT_RECOVERY: _overpayment_recovery,
}


# --------------------------------------------------------------------------- reading


def list_applications(
    session: Session,
    *,
    status: BundleStatus | None = None,
    kind: BundleKind | None = None,
    applicant_resident_id: int | None = None,
    limit: int = 100,
) -> list[BundleApplication]:
    """Applications, newest first."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidInput(f"limit must be between 1 and {LIST_LIMIT_MAX}", field="limit")
    query = select(BundleApplication).order_by(BundleApplication.id.desc()).limit(limit)
    if status is not None:
        query = query.where(BundleApplication.status == status)
    if kind is not None:
        query = query.where(BundleApplication.kind == kind)
    if applicant_resident_id is not None:
        query = query.where(BundleApplication.applicant_resident_id == applicant_resident_id)
    return list(session.scalars(query))


def count_by_status(session: Session) -> dict[BundleStatus, int]:
    rows = session.execute(
        select(BundleApplication.status, func.count()).group_by(BundleApplication.status)
    )
    return {status: int(count) for status, count in rows}


def is_overdue(task: BundleTask, today: dt.date | None = None) -> bool:
    """Not done and past its deadline."""
    return task.state is not TaskState.DONE and (today or clock.today()) > task.due_on
