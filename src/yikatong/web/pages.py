"""Server-rendered pages. Views only shape what domain services return."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from yikatong import __version__
from yikatong.api.deps import NodeDep, SessionDep
from yikatong.cards import service as cards
from yikatong.cards.models import CardState
from yikatong.registry import service as registry

TEMPLATES_DIR = Path(str(resources.files("yikatong") / "web" / "templates"))
STATIC_DIR = Path(str(resources.files("yikatong") / "web" / "static"))
templates = Jinja2Templates(directory=TEMPLATES_DIR)

router = APIRouter(include_in_schema=False)

STATE_LABELS = {
    "applied": "已申领",
    "issued": "已制卡",
    "active": "正常",
    "suspended": "临时挂失",
    "lost": "正式挂失",
    "replaced": "已补换",
    "cancelled": "已注销",
}


def page_context(request: Request, node: NodeDep) -> dict[str, object]:
    return {
        "request": request,
        "lang": "zh-CN",
        "city_name": node.settings.city_name,
        "city_code": node.city_code,
        "version": __version__,
    }


@router.get("/", response_class=HTMLResponse)
def home(request: Request, node: NodeDep, session: SessionDep) -> HTMLResponse:
    context = page_context(request, node)
    context["residents"] = registry.count_residents(session)
    counts = cards.card_count_by_state(session)
    context["cards_by_state"] = [
        (STATE_LABELS.get(state.value, state.value), state.value, counts.get(state, 0))
        for state in CardState
    ]
    return templates.TemplateResponse(request, "home.html", context)
