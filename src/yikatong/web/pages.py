"""Server-rendered pages. Views only shape what domain services return."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from yikatong.api.deps import NodeDep, SessionDep
from yikatong.cards import service as cards
from yikatong.registry import service as registry
from yikatong.web.render import STATE_LABELS, page_context, templates

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, node: NodeDep, session: SessionDep) -> HTMLResponse:
    context = page_context(request, node)
    context["residents"] = registry.count_residents(session)
    counts = cards.card_count_by_state(session)
    context["cards_by_state"] = [
        (STATE_LABELS.get(state.value, state.value), state.value, counts.get(state, 0))
        for state in cards.CardState
    ]
    return templates.TemplateResponse(request, "home.html", context)
