"""Kiosk mode (自助终端): large type, touch. The resident identifies by showing the e-SSC code to
the kiosk's scanner (a USB scanner types it into the focused field and presses Enter; a camera
reads it in the browser where the BarcodeDetector API exists), then prints a proof of insurance
or the contribution details.

The kiosk signs in as a terminal. After a code verifies online (single use, card state, deny
list) the page holds a ticket for three minutes: a resident token bound to this kiosk, so that
only the person who just identified can be printed for, and only briefly.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from yikatong.api.auth import Principal, issue_token, read_token
from yikatong.api.deps import NodeDep, SessionDep
from yikatong.cards import service as cards
from yikatong.core.errors import DomainError, Forbidden
from yikatong.documents import service as documents
from yikatong.essc import service as essc
from yikatong.web.render import page_context, templates
from yikatong.web.session import signed_in, to_login

router = APIRouter(include_in_schema=False)

TICKET_TTL = dt.timedelta(minutes=3)


def _kiosk(request: Request) -> Principal | None:
    principal = signed_in(request)
    return principal if principal is not None and principal.has("terminal") else None


@router.get("/kiosk", response_class=HTMLResponse)
def kiosk(request: Request, node: NodeDep) -> Response:
    if _kiosk(request) is None:
        return to_login(request)
    return templates.TemplateResponse(request, "kiosk.html", page_context(request, node))


@router.post("/kiosk/identify", response_class=HTMLResponse)
def identify(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    code: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Verify the scanned code online and show who it is (masked) with what can be printed."""
    principal = _kiosk(request)
    if principal is None:
        return to_login(request)
    context = page_context(request, node)
    try:
        verdict = essc.verify_online(session, code.strip())
        resident_id = cards.get_card_by_ref(session, verdict.claims.card_ref).resident_id
        context.update(
            identity=verdict.identity,
            ticket=issue_token(
                node,
                f"kiosk:{principal.subject}",
                ["resident"],
                resident_id=resident_id,
                ttl=TICKET_TTL,
                extra={"kiosk": principal.subject},
            ),
        )
    except DomainError as exc:
        context["error"] = exc.detail
    return templates.TemplateResponse(request, "_kiosk_person.html", context)


@router.post("/kiosk/print/{doc_type}")
def print_document(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    doc_type: str,
    ticket: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The certificate as a PDF for the kiosk's printer (shown inline)."""
    principal = _kiosk(request)
    if principal is None:
        return to_login(request)
    try:
        holder = read_token(node, ticket)
        if holder.claims.get("kiosk") != principal.subject or holder.resident_id is None:
            raise Forbidden("this ticket was not made at this kiosk; scan the code again")
        issued = documents.issue_document(
            session, holder.resident_id, doc_type, actor=principal.subject, role="terminal"
        )
    except DomainError as exc:
        context = page_context(request, node)
        context["error"] = exc.detail
        return templates.TemplateResponse(
            request, "_kiosk_person.html", context, status_code=exc.status
        )
    return Response(
        issued.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{issued.filename}"'},
    )
