"""The statistics dashboard (统计看板) of the staff console: the city's reported figures by day or
month and district, each as a server-drawn SVG bar chart with its data table beside it. The
filters swap the figures in place with HTMX and work as a plain form without script."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yikatong.api.deps import NodeDep, SessionDep
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.core.money import format_yuan
from yikatong.stats import service as stats
from yikatong.stats.service import Unit
from yikatong.web.charts import bar_chart
from yikatong.web.render import N_, page_context, templates, translator
from yikatong.web.session import signed_in, to_login

router = APIRouter(include_in_schema=False)

GRANULARITIES = {"day": N_("按日"), "month": N_("按月")}
# Qingdao's districts as the city reports them; other codes are shown as they are.
DISTRICT_NAMES = {
    "370202": N_("市南区"),
    "370203": N_("市北区"),
    "370211": N_("黄岛区"),
    "370212": N_("崂山区"),
    "370213": N_("李沧区"),
    "370214": N_("城阳区"),
    "370215": N_("即墨区"),
    "370281": N_("胶州市"),
    "370283": N_("平度市"),
    "370285": N_("莱西市"),
    "": N_("未知"),
}


def _shown(value: int | None, unit: Unit) -> str:
    if value is None:
        return "—"
    if unit is Unit.FEN:
        return format_yuan(value)
    if unit is Unit.PERMILLE:
        return f"{value / 10:.1f}%"
    return f"{value:,}"


def _place(district: str | None, gettext: Callable[[str], str]) -> str:
    if district is None:
        return gettext(N_("全市"))
    return gettext(DISTRICT_NAMES[district]) if district in DISTRICT_NAMES else district


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


def _figures_context(
    request: Request, session: Session, since: str, until: str, granularity: str, district: str
) -> dict[str, Any]:
    gettext = translator(request)
    context: dict[str, Any] = {
        "form": {"since": since, "until": until, "granularity": granularity, "district": district}
    }
    try:
        try:
            first, last = _date(since), _date(until)
        except ValueError:
            raise InvalidInput("dates are written 2025-03-10", field="since") from None
        period = stats.Period.of(
            since=first, until=last, granularity=granularity, district=district or None
        )
        figures = stats.figures(session, period)
    except DomainError as exc:
        context["error"] = exc.detail
        context["districts"] = []
        return context
    charts = []
    for series in figures.series:
        charts.append(
            {
                "key": series.key,
                "title": gettext(stats.TITLES[series.key]),
                "available": series.available,
                "total": _shown(series.total, series.unit),
                "chart": bar_chart(figures.periods, series.points),
                "rows": [
                    (label, _shown(value, series.unit))
                    for label, value in zip(figures.periods, series.points, strict=True)
                ],
                "by_district": [
                    (gettext(DISTRICT_NAMES[code]) if code in DISTRICT_NAMES else code, code,
                     _shown(value, series.unit))
                    for code, value in series.by_district
                ],
            }
        )  # fmt: skip
    context.update(
        figures=figures,
        charts=charts,
        form={
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "granularity": period.granularity.value,
            "district": period.district or "",
        },
        districts=[
            (code, gettext(DISTRICT_NAMES[code]) if code in DISTRICT_NAMES else code)
            for code in figures.districts
        ],
        place=_place(period.district, gettext),
    )
    return context


Since = Annotated[str, Query(max_length=10)]


@router.get("/console/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    since: Since = "",
    until: Since = "",
    granularity: Annotated[str, Query(max_length=8)] = "day",
    district: Annotated[str, Query(max_length=6)] = "",
) -> Response:
    """The whole page; with ``HX-Request`` only the figures (the filters swap them in place)."""
    principal = signed_in(request)
    if principal is None or not principal.is_staff:
        return to_login(request)
    context = page_context(request, node)
    context["granularities"] = GRANULARITIES
    context.update(_figures_context(request, session, since, until, granularity, district))
    if request.headers.get("HX-Request") == "true":
        # htmx swaps only 2xx answers: the refusal is shown in place of the figures
        return templates.TemplateResponse(request, "_dashboard_figures.html", context)
    status = 422 if "error" in context else 200
    return templates.TemplateResponse(request, "dashboard.html", context, status_code=status)
