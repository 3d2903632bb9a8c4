"""Operators' ride files (交易文件) in the staff console: an administrator takes in a bus or
metro company's file of its validators' offline rides and sees what became of each terminal's
taps; everyone on the staff sees the latest uploads. The format is in ``transit.ride_files``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.api.deps import NodeDep, SessionDep
from yikatong.core.errors import DomainError, Forbidden, InvalidInput
from yikatong.node import Node
from yikatong.transit import ride_files
from yikatong.web.render import page_context, templates, translator
from yikatong.web.session import staff_signed_in, to_login

router = APIRouter(include_in_schema=False)


def _context(request: Request, node: Node, session: Session, **extra: Any) -> dict[str, Any]:
    context = page_context(request, node)
    operators = [m for m in acquiring.list_merchants(session) if m.kind in acquiring.TRANSIT_KINDS]
    principal = staff_signed_in(request)
    context.update(
        operators=operators,
        can_upload=principal is not None and principal.has("admin"),
        uploads=acquiring.list_uploads(session, merchant_codes=[m.code for m in operators]),
        results=[],
        problems=[],
    )
    context.update(extra)
    return context


@router.get("/console/ride-files", response_class=HTMLResponse)
def ride_files_page(request: Request, node: NodeDep, session: SessionDep) -> Response:
    if staff_signed_in(request) is None:
        return to_login(request)
    return templates.TemplateResponse(
        request, "console_ride_files.html", _context(request, node, session)
    )


@router.post("/console/ride-files", response_class=HTMLResponse)
async def upload_ride_file(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    merchant: Annotated[str, Form(min_length=2, max_length=32)],
    file: UploadFile,
) -> Response:
    """Take in a ride file, refused whole with its line numbers if any line is wrong.

    Async only to read the upload; the database work runs in a worker thread, off the event
    loop that commits the requests."""
    raw = await file.read(ride_files.MAX_REQUEST_BYTES + 1)
    return await run_in_threadpool(_take_in, request, node, session, merchant, raw)


def _take_in(request: Request, node: Node, session: Session, merchant: str, raw: bytes) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    try:
        if not principal.has("admin"):
            raise Forbidden("operators' ride files are taken in by administrators")
        parsed = ride_files.read_one_request(raw)
        with session.begin_nested():
            results = ride_files.upload_ride_file(session, merchant, parsed)
    except DomainError as exc:
        context = _context(
            request,
            node,
            session,
            merchant=merchant,
            error=exc.detail,
            problems=exc.extra.get("errors", []) if isinstance(exc, InvalidInput) else [],
        )
        return templates.TemplateResponse(
            request, "console_ride_files.html", context, status_code=exc.status
        )
    _ = translator(request)
    total = [sum(getattr(r, field) for _, r in results) for field in _COUNTS]
    notice = _(
        "%(terminals)s 台终端的 %(received)s 笔交易：成功 %(approved)s，欠费 %(debts)s，"
        "重复 %(duplicates)s，拒绝 %(rejected)s；此前已记录的 %(fare_adjustments)s 笔乘车补退"
    ) % dict(zip(("terminals", *_COUNTS), (len(results), *total), strict=True))
    context = _context(request, node, session, merchant=merchant, notice=notice, results=results)
    return templates.TemplateResponse(request, "console_ride_files.html", context)


_COUNTS = ("received", "approved", "debts", "duplicates", "rejected", "fare_adjustments")
