"""“办一件事”: residents start a newborn, retirement or death application and follow its one
status with the task breakdown; the staff console lists applications and retries failed tasks."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal
from yikatong.api.deps import NodeDep, RowId, SessionDep
from yikatong.bundles import service as bundles
from yikatong.bundles.models import BundleApplication, BundleStatus, TaskState
from yikatong.core import clock
from yikatong.core.errors import DomainError, Forbidden, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.registry import service as registry
from yikatong.web.render import N_, page_context, templates, translator
from yikatong.web.session import signed_in, staff_signed_in, to_login

router = APIRouter(include_in_schema=False)

KIND_LABELS = {
    "newborn": N_("出生一件事"),
    "retirement": N_("退休一件事"),
    "death": N_("身后一件事"),
}
STATUS_LABELS = {
    "in_progress": N_("办理中"),
    "needs_attention": N_("待人工处理"),
    "completed": N_("已办结"),
}
TASK_LABELS = {
    "pension_start": N_("养老金发放"),
    "medical_status": N_("医保退休待遇"),
    "card_category": N_("社保卡类别"),
    "certification_schedule": N_("资格认证计划"),
    "registry_entry": N_("参保登记"),
    "medical_enrolment": N_("居民医保参保缴费"),
    "card_application": N_("申领社保卡"),
    "death_registration": N_("死亡登记"),
    "card_cancellation": N_("社保卡注销"),
    "payments_stop": N_("待遇停发"),
    "funeral_grant": N_("丧葬补助金"),
    "overpayment_recovery": N_("多发待遇追回"),
}
TASK_STATE_LABELS = {
    "pending": N_("待办"),
    "done": N_("已完成"),
    "failed": N_("失败，待经办人重试"),
    "waiting_for_domain": N_("等待相关业务系统上线"),
}
templates.env.globals.update(
    bundle_kind_label=KIND_LABELS.get,
    bundle_status_label=STATUS_LABELS.get,
    task_label=TASK_LABELS.get,
    task_state_label=TASK_STATE_LABELS.get,
)


def _resident(request: Request) -> Principal | None:
    principal = signed_in(request)
    return principal if principal is not None and principal.resident_id is not None else None


def _view(session: Session, application: BundleApplication) -> dict[str, Any]:
    tasks = bundles.tasks_of(session, application.id)
    return {
        "application": application,
        "tasks": tasks,
        "overdue": {task.id for task in tasks if bundles.is_overdue(task)},
        "done": sum(task.state is TaskState.DONE for task in tasks),
    }


def _my_page(
    request: Request, node: NodeDep, session: Session, resident_id: int, **extra: Any
) -> dict[str, Any]:
    context = page_context(request, node)
    context.update(
        resident=registry.get_resident(session, resident_id),
        relatives=registry.relatives_of(session, resident_id),
        applications=[
            _view(session, a)
            for a in bundles.list_applications(session, applicant_resident_id=resident_id)
        ],
        today=clock.today().isoformat(),
        form={},
    )
    context.update(extra)
    return context


@router.get("/me/bundles", response_class=HTMLResponse)
def my_bundles(request: Request, node: NodeDep, session: SessionDep) -> Response:
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    context = _my_page(request, node, session, principal.resident_id)
    return templates.TemplateResponse(request, "bundles_me.html", context)


def _refused(
    request: Request,
    node: NodeDep,
    session: Session,
    resident_id: int,
    exc: DomainError,
    form: dict[str, str],
) -> Response:
    context = _my_page(request, node, session, resident_id, error=exc.detail, form=form)
    return templates.TemplateResponse(request, "bundles_me.html", context, status_code=exc.status)


def _validation(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return InvalidInput(f"{where}: {first['msg']}", field=where)


@router.post("/me/bundles/newborn")
def start_newborn(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    id_number: Annotated[str, Form(max_length=18)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    channel: Annotated[str, Form(max_length=8)] = "app",
    reference: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    form = {"id_number": id_number, "name": name, "channel": channel, "reference": reference}
    try:
        try:
            data = bundles.NewbornInput.model_validate(
                {
                    "parent_resident_id": principal.resident_id,
                    "id_number": id_number,
                    "name": name,
                    "contribution_channel": channel,
                    "payment_reference": reference or None,
                }
            )
        except ValidationError as exc:
            raise _validation(exc) from None
        with session.begin_nested():
            application = bundles.submit_newborn(session, data, actor=principal.subject)
    except DomainError as exc:
        return _refused(request, node, session, principal.resident_id, exc, form)
    return RedirectResponse(f"/me/bundles/{application.id}", status_code=303)


@router.post("/me/bundles/retirement")
def start_retirement(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    retire_on: Annotated[str, Form(max_length=10)] = "",
    pension: Annotated[str, Form(max_length=24)] = "",
) -> Response:
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    form = {"retire_on": retire_on, "pension": pension}
    try:
        amount = parse_yuan(pension, field="pension")
        try:
            data = bundles.RetirementInput(
                resident_id=principal.resident_id,
                retire_on=dt.date.fromisoformat(retire_on),
                monthly_pension=amount,
            )
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                raise _validation(exc) from None
            raise InvalidInput(
                "write the retirement date as YYYY-MM-DD", field="retire_on"
            ) from None
        with session.begin_nested():
            application = bundles.submit_retirement(session, data, actor=principal.subject)
    except DomainError as exc:
        return _refused(request, node, session, principal.resident_id, exc, form)
    return RedirectResponse(f"/me/bundles/{application.id}", status_code=303)


@router.post("/me/bundles/death")
def start_death(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    relative: Annotated[int, Form(ge=1, le=2_147_483_647)],
    died_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    form = {"died_on": died_on, "relative": str(relative)}
    try:
        try:
            day = dt.date.fromisoformat(died_on)
        except ValueError:
            raise InvalidInput("write the date of death as YYYY-MM-DD", field="died_on") from None
        data = bundles.DeathInput(
            resident_id=relative, died_on=day, applicant_resident_id=principal.resident_id
        )
        with session.begin_nested():
            application = bundles.submit_death(session, data, actor=principal.subject)
    except DomainError as exc:
        return _refused(request, node, session, principal.resident_id, exc, form)
    return RedirectResponse(f"/me/bundles/{application.id}", status_code=303)


@router.get("/me/bundles/{application_id}", response_class=HTMLResponse)
def my_bundle(
    request: Request, node: NodeDep, session: SessionDep, application_id: RowId
) -> Response:
    principal = _resident(request)
    if principal is None:
        return to_login(request)
    context = page_context(request, node)
    try:
        application = bundles.get_application(session, application_id)
        if application.applicant_resident_id != principal.resident_id:
            raise Forbidden(f"application {application_id} is not yours")
    except DomainError as exc:
        context["error"] = exc.detail
        return templates.TemplateResponse(
            request, "bundle_status.html", context, status_code=exc.status
        )
    context.update(_view(session, application))
    return templates.TemplateResponse(request, "bundle_status.html", context)


# --------------------------------------------------------------------------- staff console


def _console_context(
    request: Request, node: NodeDep, session: Session, status: str, **extra: Any
) -> dict[str, Any]:
    context = page_context(request, node)
    chosen = BundleStatus(status) if status in STATUS_LABELS else None
    context.update(
        status=status,
        statuses=list(STATUS_LABELS),
        counts=bundles.count_by_status(session),
        applications=[
            _view(session, a) for a in bundles.list_applications(session, status=chosen, limit=200)
        ],
    )
    context.update(extra)
    return context


@router.get("/console/bundles", response_class=HTMLResponse)
def console_bundles(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    status: Annotated[str, Query(max_length=24)] = "",
) -> Response:
    if staff_signed_in(request) is None:
        return to_login(request)
    context = _console_context(request, node, session, status)
    return templates.TemplateResponse(request, "console_bundles.html", context)


@router.post("/console/bundles/tasks/{task_id}/retry", response_class=HTMLResponse)
def retry_task(request: Request, node: NodeDep, session: SessionDep, task_id: RowId) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    extra: dict[str, Any] = {}
    code = 200
    try:
        if not principal.has("clerk", "admin"):
            raise Forbidden("retrying a task needs the clerk or admin role")
        with session.begin_nested():
            application = bundles.retry_task(session, task_id, actor=principal.subject)
        label = translator(request)(STATUS_LABELS[application.status.value])
        extra["notice"] = f"{application.id}: {label}"
    except DomainError as exc:
        extra["error"] = exc.detail
        code = exc.status
    context = _console_context(request, node, session, "", **extra)
    return templates.TemplateResponse(request, "console_bundles.html", context, status_code=code)
