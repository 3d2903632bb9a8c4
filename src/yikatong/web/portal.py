"""The resident portal (我的社保卡): my card and its state, report it lost, my e-SSC QR code
refreshing before it expires, my family; my medical insurance (contributions with how cover was
decided, paying a relative's contribution from my personal account under 家庭共济, settled bills
line by line, off-site filings), my benefit payments, my rides and top-ups, my certificates.
Everything a resident sees is their own or their family's data, masked."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal
from yikatong.api.deps import MAX_ROW_ID, NodeDep, SessionDep
from yikatong.benefits import service as benefits
from yikatong.cards import service as cards
from yikatong.core import clock
from yikatong.core.errors import DomainError, Forbidden, InvalidInput, NotFound
from yikatong.core.money import format_yuan
from yikatong.documents import service as documents
from yikatong.essc import qrimage
from yikatong.essc import service as essc
from yikatong.medical import service as medical
from yikatong.node import Node
from yikatong.registry import service as registry
from yikatong.transit import service as transit
from yikatong.web.render import N_, page_context, templates, translator
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
        context["notice"] = translator(request)(N_("已挂失：这张卡和它的二维码已停止使用。"))
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


# --------------------------------------------------------------------------- my medical insurance

CHANNEL_LABELS = {
    "card": N_("社保卡金融账户"),
    "family": N_("亲属个人账户（家庭共济）"),
    "bank": N_("银行代扣"),
    "app": N_("线上缴费"),
    "tax": N_("税务征收"),
}
FILING_KINDS = {
    "long_term": N_("异地长期居住"),
    "temporary": N_("临时外出"),
    "referral": N_("转诊转院"),
    "emergency": N_("急诊抢救"),
}
TIERS = {"tier1": N_("一档"), "tier2": N_("二档")}
PROGRAMME_KINDS = {
    "basic_pension": N_("基本养老金"),
    "unemployment_benefit": N_("失业保险金"),
    "subsidy": N_("惠民补贴"),
    "one_child_reward": N_("独生子女父母奖励金"),
    "veterans_benefit": N_("退役军人优抚金"),
    "hardship_aid": N_("困难职工救助金"),
}
PAYMENT_STATES = {"pending": N_("发放中"), "paid": N_("已到账"), "failed": N_("未成功")}
RIDE_MODES = {"bus": N_("公交"), "metro": N_("地铁")}
DOCUMENT_TYPES = {"proof": N_("参保证明"), "contributions": N_("缴费明细")}
# 集中缴费期 (seed 002): September to December pays for next year's cover
_COLLECTION_STARTS = 9


def _payment_years() -> list[int]:
    """This year, and next year in the collection window once its policy is published."""
    today = clock.today()
    years = [today.year + 1, today.year] if today.month >= _COLLECTION_STARTS else [today.year]
    published = []
    for year in years:
        try:
            medical.city_policy(year)
        except DomainError:
            continue
        published.append(year)
    return published or [today.year]


def _medical_context(session: Session, resident_id: int) -> dict[str, Any]:
    contributions = medical.contributions_of(session, resident_id)
    names = {resident_id: registry.get_resident(session, resident_id).name}
    relatives = registry.relatives_of(session, resident_id)
    names.update({relative.id: relative.name for relative, _ in relatives})
    return {
        "enrolments": medical.enrolments_of(session, resident_id),
        "contributions": contributions,
        "claims": [
            (claim, medical.institution_code_of(session, claim))
            for claim in reversed(medical.claims_of(session, resident_id))
        ],
        "filings": medical.filings_of(session, resident_id),
        "relatives": relatives,
        "names": names,
        "personal_balance": medical.personal_account_balance(session, resident_id),
        "years": _payment_years(),
        "tiers": TIERS,
        "channel_labels": CHANNEL_LABELS,
        "filing_kinds": FILING_KINDS,
        "payment_key": secrets.token_hex(16),
    }


@router.get("/me/medical", response_class=HTMLResponse)
def my_medical(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My medical insurance: cover per year, payments, bills, off-site filings."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    context["resident"] = registry.get_resident(session, principal.resident_id)
    context.update(_medical_context(session, principal.resident_id))
    return templates.TemplateResponse(request, "my_medical.html", context)


@router.post("/me/medical/family-payment", response_class=HTMLResponse)
def pay_for_relative(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    relative_id: Annotated[int, Form(ge=1, le=MAX_ROW_ID)],
    year: Annotated[int, Form(ge=2000, le=2100)],
    idempotency_key: Annotated[str, Form(min_length=8, max_length=64)],
    tier: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """家庭共济: pay a registered relative's contribution from my employee personal account. The
    form carries its own idempotency key, so a double click or a retry pays once."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    me = principal.resident_id
    gettext = translator(request)
    context = page_context(request, node)
    try:
        if relative_id not in medical.family_of(session, me):
            raise Forbidden(f"resident {relative_id} is not a registered relative of yours")
        if tier not in ("", *TIERS):
            raise InvalidInput("tier must be tier1 or tier2", field="tier")
        with session.begin_nested():
            result = medical.pay_contribution(
                session,
                relative_id,
                year,
                channel="family",
                payer_resident_id=me,
                tier=tier or None,
                idempotency_key=idempotency_key,
                actor=principal.subject,
            )
        enrolment = result.enrolment
        covered = enrolment.covered_from.isoformat() if enrolment.covered_from else "—"
        context["notice"] = gettext(
            N_("已为%(name)s缴纳%(year)s年医保费%(amount)s元，保障起始日：%(covered)s。")
        ) % {
            "name": registry.get_resident(session, relative_id).name,
            "year": year,
            "amount": format_yuan(result.contribution.amount),
            "covered": covered,
        }
        context["explanation"] = enrolment.explanation
    except DomainError as exc:
        context["error"] = exc.detail
    context["personal_balance"] = medical.personal_account_balance(session, me)
    return templates.TemplateResponse(request, "_family_payment_result.html", context)


# --------------------------------------------------------------------------- payments, rides, certificates


@router.get("/me/payments", response_class=HTMLResponse)
def my_payments(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My pension and benefit payments (待遇发放), traceable to the batch and bank reference."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    payments = benefits.payments_of(session, principal.resident_id)
    context.update(
        resident=registry.get_resident(session, principal.resident_id),
        payments=payments,
        paid_total=sum(p.amount for p in payments if p.status.value == "paid"),
        programme_kinds=PROGRAMME_KINDS,
        payment_states=PAYMENT_STATES,
    )
    return templates.TemplateResponse(request, "my_payments.html", context)


@router.get("/me/rides", response_class=HTMLResponse)
def my_rides(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My rides (乘车记录) with the fare charged and why, my top-ups and the purse balance."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    card = cards.current_card_of(session, principal.resident_id)
    context.update(
        resident=registry.get_resident(session, principal.resident_id),
        card=card,
        balance=transit.transport_balance(session, card.card_no) if card is not None else None,
        rides=transit.ride_history(session, principal.resident_id, limit=200),
        top_ups=transit.top_ups_of(session, principal.resident_id),
        ride_modes=RIDE_MODES,
    )
    return templates.TemplateResponse(request, "my_rides.html", context)


@router.get("/me/certificates", response_class=HTMLResponse)
def my_certificates(request: Request, node: NodeDep, session: SessionDep) -> Response:
    """My certificates: download a fresh proof of insurance or contribution detail, and the
    list of those issued to me (each verifiable by its QR code)."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    context = page_context(request, node)
    context.update(
        resident=registry.get_resident(session, principal.resident_id),
        issued=documents.documents_of(session, principal.resident_id),
        document_types=DOCUMENT_TYPES,
        today=clock.today(),
    )
    return templates.TemplateResponse(request, "my_certificates.html", context)


@router.post("/me/certificates/{doc_type}")
def download_certificate(
    request: Request,
    node: NodeDep,
    session: SessionDep,
    doc_type: str,
    since: Annotated[str, Form(max_length=10)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Issue my certificate now (signed, registered) and download it as a PDF."""
    principal = _resident(request)
    if principal is None or principal.resident_id is None:
        return to_login(request)
    try:
        first, last = _optional_date(since, "since"), _optional_date(until, "until")
        issued = documents.issue_document(
            session,
            principal.resident_id,
            documents.parse_type(doc_type),
            actor=principal.subject,
            role="resident",
            since=first,
            until=last,
        )
    except DomainError as exc:
        context = page_context(request, node)
        context.update(
            resident=registry.get_resident(session, principal.resident_id),
            issued=documents.documents_of(session, principal.resident_id),
            document_types=DOCUMENT_TYPES,
            today=clock.today(),
            error=exc.detail,
        )
        return templates.TemplateResponse(
            request, "my_certificates.html", context, status_code=exc.status
        )
    return Response(
        issued.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{issued.filename}"'},
    )


def _optional_date(text: str, field: str) -> dt.date | None:
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{field} is a date like 2025-03-10", field=field) from None
