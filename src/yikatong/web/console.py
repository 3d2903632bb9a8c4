"""The staff console (经办台): resident search with masked data, unmasking with a stated reason
(audited), card operations on the state machine's allowed actions, the audit log viewer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yikatong.api.deps import NodeDep, RowId, SessionDep
from yikatong.audit import service as audit
from yikatong.cards import service as cards
from yikatong.core.errors import DomainError, Forbidden, InvalidInput
from yikatong.registry import service as registry
from yikatong.web.render import N_, page_context, templates, translator
from yikatong.web.session import staff_signed_in, to_login

router = APIRouter(include_in_schema=False)

ACTION_LABELS = {
    cards.CardAction.ISSUE: N_("发卡"),
    cards.CardAction.ACTIVATE: N_("启用"),
    cards.CardAction.REPORT_LOST_TEMPORARY: N_("临时挂失"),
    cards.CardAction.REPORT_LOST_FORMAL: N_("正式挂失"),
    cards.CardAction.RESTORE: N_("解挂"),
    cards.CardAction.REPLACE: N_("补卡"),
    cards.CardAction.CANCEL: N_("注销"),
}
_ID_NUMBER_LENGTH = 18


@router.get("/console", response_class=HTMLResponse)
def console(request: Request, node: NodeDep) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    return templates.TemplateResponse(request, "console.html", page_context(request, node))


@router.get("/console/residents", response_class=HTMLResponse)
def search(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Search by name prefix or by a full ID number (found through its keyed hash)."""
    if staff_signed_in(request) is None:
        return to_login(request)
    context = page_context(request, node)
    text = q.strip()
    context["q"] = text
    try:
        if not text:
            context["residents"] = []
        elif len(text) == _ID_NUMBER_LENGTH and text[:17].isdigit():
            context["residents"] = registry.search_residents(session, id_number=text, limit=20)
        else:
            context["residents"] = registry.search_residents(session, name=text, limit=20)
    except DomainError as exc:
        context.update(residents=[], error=exc.detail)
    return templates.TemplateResponse(request, "_console_results.html", context)


def _resident_context(session: Session, resident_id: int) -> dict[str, Any]:
    resident = registry.get_resident(session, resident_id)
    card_rows = []
    for card in cards.list_cards(session, resident_id=resident_id, limit=20):
        card_rows.append(
            {
                "card": card,
                "actions": [(a.value, ACTION_LABELS[a]) for a in cards.allowed_actions(card.state)],
                "history": cards.card_history(session, card),
            }
        )
    return {
        "resident": resident,
        "relatives": registry.relatives_of(session, resident_id),
        "cards": card_rows,
    }


@router.get("/console/residents/{resident_id}", response_class=HTMLResponse)
def resident_page(
    request: Request, node: NodeDep, session: SessionDep, resident_id: RowId
) -> Response:
    if staff_signed_in(request) is None:
        return to_login(request)
    context = page_context(request, node)
    context.update(_resident_context(session, resident_id))
    return templates.TemplateResponse(request, "console_resident.html", context)


@router.post("/console/residents/{resident_id}/unmask", response_class=HTMLResponse)
def unmask(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    resident_id: RowId,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Clear personal data for a clerk or administrator who states why; written to the audit log."""
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    context = page_context(request, node)
    try:
        if len(reason.strip()) < 2:
            raise InvalidInput("say why you need the clear data (it is audited)", field="reason")
        role = "admin" if principal.has("admin") else principal.role
        context["clear"] = registry.reveal(
            session, resident_id, actor=principal.subject, role=role, reason=reason.strip()
        )
    except DomainError as exc:
        context["error"] = exc.detail
    return templates.TemplateResponse(request, "_unmasked.html", context)


_ACTIONS = {
    cards.CardAction.ISSUE: cards.issue_card,
    cards.CardAction.ACTIVATE: cards.activate_card,
    cards.CardAction.RESTORE: cards.restore_card,
    cards.CardAction.CANCEL: cards.cancel_card,
    cards.CardAction.REPLACE: cards.replace_card,
}


@router.post("/console/cards/{card_no}/{action}", response_class=HTMLResponse)
def card_action(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    card_no: str,
    action: str,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Apply one card action; the state machine refuses what is not allowed from the state."""
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    context = page_context(request, node)
    try:
        if not principal.has("clerk", "admin"):
            raise Forbidden("card operations need the clerk or admin role")
        try:
            chosen = cards.CardAction(action)
        except ValueError:
            raise InvalidInput(f"unknown card action {action!r}", field="action") from None
        why = reason.strip() or f"{chosen.value} at the service counter"
        card = cards.get_card(session, card_no)
        resident_id = card.resident_id
        if chosen in _ACTIONS:
            _ACTIONS[chosen](session, card_no, actor=principal.subject, reason=why)
        else:
            temporary = chosen is cards.CardAction.REPORT_LOST_TEMPORARY
            cards.report_lost(
                session, card_no, actor=principal.subject, reason=why, temporary=temporary
            )
        context["notice"] = f"{translator(request)(ACTION_LABELS[chosen])}: {card_no}"
    except DomainError as exc:
        context["error"] = exc.detail
        try:
            resident_id = cards.get_card(session, card_no).resident_id
        except DomainError:
            return templates.TemplateResponse(
                request, "_message.html", context, status_code=exc.status
            )
    context.update(_resident_context(session, resident_id))
    return templates.TemplateResponse(request, "_console_cards.html", context)


@router.get("/console/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    actor: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    principal = staff_signed_in(request)
    if principal is None:
        return to_login(request)
    context = page_context(request, node)
    if not principal.has("auditor", "admin"):
        context["error"] = "the audit log is for auditors and administrators"
        return templates.TemplateResponse(request, "audit.html", context, status_code=403)
    context.update(
        entries=audit.search(session, actor=actor.strip() or None, limit=200), actor=actor
    )
    return templates.TemplateResponse(request, "audit.html", context)
