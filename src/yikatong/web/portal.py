"""The resident portal (我的社保卡): my card and its state, report it lost, my e-SSC QR code
refreshing before it expires, my family. Everything a resident sees is their own or their
family's data, masked."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal
from yikatong.api.deps import NodeDep, SessionDep
from yikatong.cards import service as cards
from yikatong.core import clock
from yikatong.core.errors import DomainError, NotFound
from yikatong.essc import qrimage
from yikatong.essc import service as essc
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.web.render import page_context, templates
from yikatong.web.session import signed_in, to_login

router = APIRouter(include_in_schema=False)


def _resident(request: Request) -> Principal | None:
    principal = signed_in(request)
    if principal is None or principal.resident_id is None:
        return None
    return principal


def _card_context(session: Session, resident_id: int) -> dict[str, Any]:
    card = cards.current_card_of(session, resident_id)
    return {
        "card": card,
        "category": cards.card_category(session, card) if card is not None else None,
        "can_report_lost": card is not None and card.state == cards.CardState.ACTIVE,
    }


@router.get("/me", response_class=HTMLResponse)
def my_page(request: Request, node: NodeDep, session: SessionDep) -> Response:
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    resident = registry.get_resident(session, principal.resident_id)
    account = essc.account_of(session, resident.id)
    context = page_context(request, node)
    context.update(_card_context(session, resident.id))
    context.update(
        resident=resident,
        relatives=registry.relatives_of(session, resident.id),
        account=account,
        family=[
            registry.get_resident(session, member.relative_id)
            for member in (essc.family_of(session, account.id) if account else [])
        ],
    )
    return templates.TemplateResponse(request, "me.html", context)


@router.post("/me/card/report-lost", response_class=HTMLResponse)
def report_my_card_lost(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """临时挂失 by the holder: the card is suspended and its QR codes stop verifying at once."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    card = cards.current_card_of(session, principal.resident_id)
    context = page_context(request, node)
    try:
        if card is None:
            raise NotFound("you hold no card to report lost")
        cards.report_lost(
            session,
            card.card_no,
            actor=principal.subject,
            reason="reported lost by the holder in the resident portal",
            temporary=True,
        )
        context["notice"] = "已挂失：这张卡和它的二维码已停止使用。The card is suspended."
    except DomainError as exc:
        context["error"] = exc.detail
    context.update(_card_context(session, principal.resident_id))
    return templates.TemplateResponse(request, "_my_card.html", context)


@router.get("/me/qr", response_class=HTMLResponse)
def my_qr(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """The e-SSC identity code (L1) as an image fragment; the page asks again before expiry."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    return templates.TemplateResponse(
        request, "_my_qr.html", _qr_context(request, node, session, principal)
    )


def _qr_context(
    request: Request, node: Node, session: Session, principal: Principal
) -> dict[str, Any]:
    context = page_context(request, node)
    assert principal.resident_id is not None
    try:
        issued = essc.issue_qr(session, principal.resident_id, "L1")
    except DomainError as exc:
        context["error"] = exc.detail
        return context
    png = qrimage.render_png(issued.text, scale=5)
    context.update(
        qr_png=base64.b64encode(png).decode(),
        qr_text=issued.text,
        expires_at=issued.claims.expires_at,
        seconds_left=max(0, int((issued.claims.expires_at - clock.now()).total_seconds())),
        refresh_seconds=max(5, node.settings.qr_ttl_seconds - 5),
    )
    return context
