"""More resident-portal and staff-console pages: my qualification certification (资格认证), my
canteen meals (长者食堂) with today's remaining subsidy, my venue tickets, passes and entries, my
consumption vouchers (消费券) with claiming from an open campaign; and for staff the certification
work list with the rate against the target, and the pension and medical transfer cases
(转移接续) with their working-day deadlines. Everything is read through the domain services."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yikatong.api.deps import NodeDep, SessionDep
from yikatong.benefits import service as benefits
from yikatong.canteens import service as canteens
from yikatong.certification import rules as certification_rules
from yikatong.certification import service as certification
from yikatong.core import clock
from yikatong.core.errors import DomainError, NotFound
from yikatong.medical import service as medical
from yikatong.node import Node
from yikatong.pensions import service as pensions
from yikatong.registry import service as registry
from yikatong.venues import service as venues
from yikatong.vouchers import service as vouchers
from yikatong.web.render import N_, page_context, templates, translator
from yikatong.web.session import signed_in, staff_signed_in, to_login

router = APIRouter(include_in_schema=False)

CERTIFICATION_STATUSES = {
    "certified": N_("已认证"),
    "fallback": N_("待补充认证"),
    "suspend": N_("暂停发放"),
    "negative": N_("已停发"),
}
CERTIFICATION_STAGES = {
    "app_face": N_("手机刷脸认证"),
    "service_point": N_("服务网点认证"),
    "home_visit": N_("上门认证"),
}
CERTIFICATION_CHANNELS = {
    "silent": N_("静默认证（数据比对）"),
    "app_face": N_("手机刷脸认证"),
    "service_point": N_("服务网点认证"),
    "home_visit": N_("上门认证"),
    "remote_city": N_("异地协助认证"),
}
MEAL_STATES = {"approved": N_("已就餐"), "declined": N_("未成功"), "reversed": N_("已冲正")}
TICKET_STATES = {"valid": N_("未使用"), "used": N_("已使用")}
ENTRY_OUTCOMES = {"admitted": N_("已入园"), "duplicate": N_("重复刷卡"), "refused": N_("未通过")}
VOUCHER_STATES = {
    "claimed": N_("可使用"),
    "redeemed": N_("已使用"),
    "expired": N_("已过期"),
    "refunded": N_("已退货"),
}
PENSION_STEPS = {
    "certificate": N_("参保缴费凭证"),
    "letter": N_("联系函"),
    "sheet": N_("信息表+基金转移"),
    "receipt": N_("基金到账"),
    "completed": N_("办结"),
    "temporary": N_("临时账户"),
}
SIDES = {"old_city": N_("转出地"), "new_city": N_("转入地")}
MEDICAL_TRANSFER_STATES = {
    "requested": N_("已申请"),
    "closed": N_("已转出"),
    "received": N_("已接收"),
    "completed": N_("已办结"),
}


def _resident_id(request: Request) -> int | None:
    principal = signed_in(request)
    return None if principal is None else principal.resident_id


# --------------------------------------------------------------------------- my certification


@router.get("/me/certification", response_class=HTMLResponse)
def my_certification(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My qualification certification: status, last evidence, valid until, channel, and
    whether my pension is held until I certify."""
    resident_id = _resident_id(request)
    if resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    try:
        state = certification.state_of(session, resident_id)
    except NotFound:
        state = None
    context.update(
        resident=registry.get_resident(session, resident_id),
        state=state,
        evidence=certification.evidence_of(session, resident_id, limit=50),
        statuses=CERTIFICATION_STATUSES,
        stages=CERTIFICATION_STAGES,
        channels=CERTIFICATION_CHANNELS,
    )
    return templates.TemplateResponse(request, "my_certification.html", context)


# --------------------------------------------------------------------------- my canteen meals


@router.get("/me/canteen", response_class=HTMLResponse)
def my_canteen(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My meals at the elderly canteens: price, subsidy, what I paid; today's entitlement left."""
    resident_id = _resident_id(request)
    if resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    resident = registry.get_resident(session, resident_id)
    meals = canteens.meals_of_resident(session, resident_id, limit=200)
    # today's entitlement at the canteens of my district, else of the canteen I last ate at
    today = None
    for district in dict.fromkeys([resident.district_code, *(c.district_code for _, c in meals)]):
        try:
            today = canteens.entitlement_on(session, resident_id, district)
        except DomainError:
            continue
        break
    served = [meal for meal, _ in meals if meal.status.value == "approved"]
    context.update(
        resident=resident,
        meals=meals,
        today=today,
        subsidy_total=sum(meal.subsidy for meal in served),
        paid_total=sum(meal.paid for meal in served),
        meal_states=MEAL_STATES,
    )
    return templates.TemplateResponse(request, "my_canteen.html", context)


# --------------------------------------------------------------------------- my venues


@router.get("/me/venues", response_class=HTMLResponse)
def my_venues(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My tickets, my annual passes (entries used of the limit) and my recent gate entries."""
    resident_id = _resident_id(request)
    if resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    context.update(
        resident=registry.get_resident(session, resident_id),
        venue_names={venue.id: venue.name for venue in venues.list_venues(session)},
        tickets=venues.tickets_of(session, resident_id, limit=100),
        passes=venues.passes_of(session, resident_id),
        entries=venues.entries_of_resident(session, resident_id, limit=50),
        today=clock.today(),
        ticket_states=TICKET_STATES,
        entry_outcomes=ENTRY_OUTCOMES,
    )
    return templates.TemplateResponse(request, "my_venues.html", context)


# --------------------------------------------------------------------------- my vouchers


def _vouchers_context(session: Session, resident_id: int) -> dict[str, Any]:
    now = clock.now()
    today = clock.today()
    held = [
        (voucher, vtype, campaign, vouchers.effective_state(voucher, now).value)
        for voucher, vtype, campaign in vouchers.vouchers_of_resident(session, resident_id)
    ]
    open_campaigns = [
        (campaign, vouchers.campaign_types(session, campaign))
        for campaign in vouchers.list_campaigns(session)
        if campaign.starts_on <= today <= campaign.ends_on
    ]
    return {
        "resident": registry.get_resident(session, resident_id),
        "held": held,
        "open_campaigns": open_campaigns,
        "voucher_states": VOUCHER_STATES,
    }


@router.get("/me/vouchers", response_class=HTMLResponse)
def my_vouchers(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My consumption vouchers and the campaigns releasing vouchers today."""
    resident_id = _resident_id(request)
    if resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    context.update(_vouchers_context(session, resident_id))
    return templates.TemplateResponse(request, "my_vouchers.html", context)


@router.post("/me/vouchers/claim", response_class=HTMLResponse)
def claim_my_voucher(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    campaign_code: Annotated[str, Form(min_length=1, max_length=32)],
    type_code: Annotated[str, Form(min_length=1, max_length=32)],
) -> Response:
    """领券: claim one voucher of a type from today's release. A refusal (not released yet, all
    claimed, already claimed this week) is shown in place and changes nothing."""
    resident_id = _resident_id(request)
    if resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    status = 200
    try:
        with session.begin_nested():
            voucher = vouchers.claim_voucher(session, campaign_code, type_code, resident_id)
        context["notice"] = translator(request)(
            N_("已领取消费券 %(code)s，有效期至 %(until)s。")
        ) % {"code": voucher.code, "until": _local(voucher.expires_at)}
    except DomainError as exc:
        context["error"] = exc.detail
        status = exc.status
    context.update(_vouchers_context(session, resident_id))
    if request.headers.get("HX-Request") == "true":
        # htmx swaps only 2xx answers: the refusal is the content of this fragment.
        return templates.TemplateResponse(request, "_my_vouchers.html", context)
    return templates.TemplateResponse(request, "my_vouchers.html", context, status_code=status)


def _local(instant: dt.datetime) -> str:
    return instant.astimezone(clock.CHINA_TZ).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- staff: certification


@router.get("/console/certification", response_class=HTMLResponse)
def certification_console(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    district: Annotated[str, Query(pattern=r"^(\d{6})?$")] = "",
) -> Response:
    """The fallback work list by district (who to reach, through which channel, by when) and
    the certification rate by district against the target."""
    if staff_signed_in(request) is None:
        return to_login(request)
    context = page_context(request, node)
    work: dict[str, list[tuple[str, certification.WorkItem, dt.date | None]]] = {}
    report = None
    try:
        report = certification.rate_report(session, allow_illustrative=node.settings.demo)
        grace = dt.timedelta(days=_grace_days(node, report.as_of))
        for stage in certification_rules.STAGES:
            grouped = certification.work_list(
                session, stage=stage, district_code=district or None, limit=2000
            )
            for code, items in grouped.items():
                work.setdefault(code, []).extend(
                    (stage, item, item.valid_until + grace if item.valid_until else None)
                    for item in items
                )
    except DomainError as exc:
        context["error"] = exc.detail
    for rows in work.values():
        rows.sort(key=lambda row: (row[1].valid_until or dt.date.min, row[1].resident_id))
    context.update(
        district=district,
        report=report,
        work=dict(sorted(work.items())),
        statuses=CERTIFICATION_STATUSES,
        stages=CERTIFICATION_STAGES,
        channels=CERTIFICATION_CHANNELS,
    )
    return templates.TemplateResponse(request, "console_certification.html", context)


def _grace_days(node: Node, day: dt.date) -> int:
    policy = certification.certification_policy(day.year, allow_illustrative=node.settings.demo)
    return policy.grace_days


# --------------------------------------------------------------------------- staff: transfers


@router.get("/console/transfers", response_class=HTMLResponse)
def transfers_console(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    overdue: Annotated[bool, Query()] = False,
) -> Response:
    """Pension transfer cases (the 台账: step, owing city, due date, working days left) and
    medical insurance transfers with their deadlines; overdue ones highlighted."""
    if staff_signed_in(request) is None:
        return to_login(request)
    context = page_context(request, node)
    pension_rows = pensions.transfer_ledger(session, overdue_only=overdue, limit=500)
    medical_views = medical.list_transfers(session, overdue=overdue, limit=500)
    residents = {row.case.resident_id for row in pension_rows}
    residents.update(v.case.resident_id for v in medical_views if v.case.resident_id is not None)
    context.update(
        overdue_only=overdue,
        pension_rows=pension_rows,
        medical_rows=[
            (
                view,
                view.case.new_city_due
                if view.case.status.value == "received"
                else view.case.old_city_due,
            )
            for view in medical_views
        ],
        names={
            rid: benefits.mask_name(registry.get_resident(session, rid).name) for rid in residents
        },
        pension_steps=PENSION_STEPS,
        sides=SIDES,
        medical_states=MEDICAL_TRANSFER_STATES,
    )
    return templates.TemplateResponse(request, "console_transfers.html", context)
