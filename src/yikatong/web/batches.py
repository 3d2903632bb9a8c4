"""Disbursement batches in the staff console (一卡通发, maker–checker): list, generate, check the
lines, approve (never by the clerk who generated the batch: the page says why), download the
bank file, upload the bank's return file, reconcile; and the federation's dead letters, replayed
by an administrator."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal
from yikatong.api.deps import MAX_ROW_ID, NodeDep, RowId, SessionDep
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BatchStatus
from yikatong.core.errors import DomainError, Forbidden, InvalidInput
from yikatong.core.money import format_yuan
from yikatong.federation import service as federation
from yikatong.node import Node
from yikatong.web.render import N_, page_context, templates, translator
from yikatong.web.session import staff_signed_in, to_login

router = APIRouter(include_in_schema=False)

BATCH_STATUS_LABELS = {
    "generated": N_("待复核"),
    "approved": N_("已复核"),
    "exported": N_("已报盘"),
    "closed": N_("已回盘"),
}
LINE_STATUS_LABELS = {"pending": N_("待发放"), "paid": N_("已发放"), "failed": N_("发放失败")}
templates.env.globals.update(
    batch_status_label=BATCH_STATUS_LABELS.get,
    line_status_label=LINE_STATUS_LABELS.get,
    fen_to_yuan=format_yuan,
)


def _require_writer(principal: Principal) -> None:
    if not principal.has("clerk", "admin"):
        raise Forbidden("disbursement batches are run by clerks and administrators")


def _list_context(
    request: Request, node: NodeDep, session: Session, **extra: Any
) -> dict[str, Any]:
    context = page_context(request, node)
    programmes = benefits.list_programmes(session)
    context.update(
        programmes=programmes,
        codes={p.id: p.code for p in programmes},
        batches=list(reversed(benefits.list_batches(session)))[:200],
    )
    context.update(extra)
    return context


@router.get("/console/batches", response_class=HTMLResponse)
def batches_page(request: Request, node: NodeDep, session: SessionDep) -> Response:
    if staff_signed_in(request) is None:
        return to_login(request)
    return templates.TemplateResponse(
        request, "console_batches.html", _list_context(request, node, session)
    )


@router.post("/console/batches")
def generate(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    programme_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
    month: Annotated[str, Form(max_length=7)] = "",
) -> Response:
    """Draw up a month's batch; the signed-in clerk is its maker."""
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    try:
        _require_writer(principal)
        period = benefits.parse_month(month)
        with session.begin_nested():
            batch = benefits.generate_batch(session, programme_id, period, actor=principal.subject)
    except DomainError as exc:
        context = _list_context(request, node, session, error=exc.detail)
        return templates.TemplateResponse(
            request, "console_batches.html", context, status_code=exc.status
        )
    return RedirectResponse(f"/console/batches/{batch.id}", status_code=303)


def _batch_context(
    request: Request, node: NodeDep, session: Session, batch_id: int, principal: Principal
) -> dict[str, Any]:
    context = page_context(request, node)
    batch = benefits.get_batch(session, batch_id)
    programme = benefits.get_programme(session, batch.programme_id)
    maker = batch.created_by == principal.subject[:64]
    waiting = batch.status is BatchStatus.GENERATED
    context.update(
        batch=batch,
        programme=programme,
        lines=benefits.batch_lines(session, batch.id)[:500],
        report=benefits.reconcile_batch(session, batch.id),
        budget=benefits.budget_balance(session, programme),
        can_write=principal.has("clerk", "admin"),
        can_approve=waiting and not maker and principal.has("clerk", "admin"),
        maker=maker,
    )
    return context


def _batch_page(
    request: Request,
    node: NodeDep,
    session: Session,
    batch_id: int,
    principal: Principal,
    *,
    notice: str | None = None,
    error: DomainError | None = None,
) -> Response:
    try:
        context = _batch_context(request, node, session, batch_id, principal)
    except DomainError as exc:
        context = page_context(request, node)
        context["error"] = exc.detail
        return templates.TemplateResponse(
            request, "console_batch.html", context, status_code=exc.status
        )
    context.update(notice=notice, error=error.detail if error else None)
    if error is not None and "errors" in error.extra:
        context["problems"] = error.extra["errors"]
    return templates.TemplateResponse(
        request, "console_batch.html", context, status_code=error.status if error else 200
    )


@router.get("/console/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, node: NodeDep, session: SessionDep, batch_id: RowId) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    return _batch_page(request, node, session, batch_id, principal)


@router.post("/console/batches/{batch_id}/approve", response_class=HTMLResponse)
def approve(request: Request, node: NodeDep, session: SessionDep, batch_id: RowId) -> Response:
    """复核: a second clerk approves; the maker is refused with the reason."""
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    try:
        _require_writer(principal)
        with session.begin_nested():
            batch = benefits.approve_batch(session, batch_id, actor=principal.subject)
    except DomainError as exc:
        return _batch_page(request, node, session, batch_id, principal, error=exc)
    label = translator(request)(BATCH_STATUS_LABELS[batch.status.value])
    notice = f"{batch.id}: {label} ({principal.subject})"
    return _batch_page(request, node, session, batch_id, principal, notice=notice)


@router.post("/console/batches/{batch_id}/bank-file")
def bank_file(request: Request, node: NodeDep, session: SessionDep, batch_id: RowId) -> Response:
    """The bank file of the lines still pending, as a download (accounts revealed, audited)."""
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    try:
        _require_writer(principal)
        with session.begin_nested():
            exported = benefits.export_bank_file(session, batch_id, actor=principal.subject)
    except DomainError as exc:
        return _batch_page(request, node, session, batch_id, principal, error=exc)
    return Response(
        exported.text.encode(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="batch-{batch_id}-bank.csv"',
            "X-Line-Count": str(exported.count),
            "X-Total-Fen": str(exported.total),
        },
    )


@router.post("/console/batches/{batch_id}/return-file", response_class=HTMLResponse)
async def return_file(
    request: Request, node: NodeDep, session: SessionDep, batch_id: RowId, file: UploadFile
) -> Response:
    """The bank's return file (回盘), refused whole with its line numbers if any row is wrong.

    Async only to read the upload; the database work runs in a worker thread, off the event
    loop that commits the requests."""
    raw = await file.read(benefits.RETURN_FILE_MAX_BYTES + 1)
    return await run_in_threadpool(_apply_return_file, request, node, session, batch_id, raw)


def _apply_return_file(
    request: Request, node: Node, session: Session, batch_id: int, raw: bytes
) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    try:
        _require_writer(principal)
        if len(raw) > benefits.RETURN_FILE_MAX_BYTES:
            raise InvalidInput("the return file is larger than 50 MiB", field="file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the return file must be UTF-8 text", field="file") from None
        with session.begin_nested():
            outcome = benefits.import_return_file(session, batch_id, text, actor=principal.subject)
    except DomainError as exc:
        return _batch_page(request, node, session, batch_id, principal, error=exc)
    _ = translator(request)
    notice = _("已发放 %(paid)s 笔，失败 %(failed)s 笔，未变 %(unchanged)s 笔 · %(status)s") % {
        "paid": outcome.paid,
        "failed": outcome.failed,
        "unchanged": outcome.unchanged,
        "status": _(BATCH_STATUS_LABELS[outcome.batch_status.value]),
    }
    return _batch_page(request, node, session, batch_id, principal, notice=notice)


# --------------------------------------------------------------------------- dead letters


def _letters_context(
    request: Request, node: NodeDep, session: Session, status: str, **extra: Any
) -> dict[str, Any]:
    context = page_context(request, node)
    context.update(status=status, letters=federation.dead_letters(session, status=status or None))
    context.update(extra)
    return context


@router.get("/console/dead-letters", response_class=HTMLResponse)
def dead_letters(
    request: Request, node: NodeDep, session: SessionDep, status: str = "open"
) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    try:
        context = _letters_context(request, node, session, status, admin=principal.has("admin"))
    except DomainError as exc:
        context = _letters_context(request, node, session, "open", error=exc.detail)
        return templates.TemplateResponse(
            request, "console_dead_letters.html", context, status_code=exc.status
        )
    return templates.TemplateResponse(request, "console_dead_letters.html", context)


@router.post("/console/dead-letters/{letter_id}/replay", response_class=HTMLResponse)
def replay(request: Request, node: NodeDep, session: SessionDep, letter_id: RowId) -> Response:
    """Run the failed message's handler again (administrators only, as in the API)."""
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    extra: dict[str, Any] = {"admin": principal.has("admin")}
    code = 200
    try:
        if not principal.has("admin"):
            raise Forbidden("replaying a dead letter needs the admin role")
        with session.begin_nested():
            letter = federation.replay_dead_letter(session, letter_id, actor=principal.subject)
        extra["notice"] = f"{letter.id}: {letter.status}" + (
            "" if letter.status == "replayed" else f" · {letter.error}"
        )
    except DomainError as exc:
        extra["error"] = exc.detail
        code = exc.status
    context = _letters_context(request, node, session, "open", **extra)
    return templates.TemplateResponse(
        request, "console_dead_letters.html", context, status_code=code
    )
