"""HTTP API of consumer vouchers (消费券).

Residents claim and list their vouchers (``/api/v1/vouchers/…``); merchants redeem them and
refund their orders from a signed acquiring terminal (``/api/v1/terminal/voucher-redemptions``,
``/api/v1/terminal/voucher-refunds``); staff create campaigns, read their reports and close them
after their last day. Amounts come in as yuan strings and go out as integer fen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.acquiring.api import SIGNED, as_terminal
from yikatong.acquiring.models import Terminal
from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, SessionDep
from yikatong.core import clock
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.vouchers import service
from yikatong.vouchers.models import Voucher, VoucherCampaign, VoucherType

router = APIRouter(tags=["vouchers"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]
_READ = require("clerk", "auditor", "admin")
_WRITE = require("admin")
_STAFF = ("clerk", "auditor", "admin")
_CODE = r"^[a-z0-9][a-z0-9-]{1,31}$"
CampaignCode = Annotated[str, Path(pattern=_CODE, description="Campaign code")]


def _fen(text: str, field: str) -> int:
    amount = parse_yuan(text, field=field)
    if amount <= 0:
        raise InvalidInput("the amount must be positive", field=field)
    return amount


# --------------------------------------------------------------------------- shapes


class VoucherOut(BaseModel):
    id: int
    code: str
    campaign: str
    type: str
    threshold: int
    discount: int
    state: str = Field(description="claimed, redeemed, expired (as of now) or refunded")
    claimed_at: dt.datetime
    expires_at: dt.datetime
    redeemed_at: dt.datetime | None
    order_ref: str | None
    order_amount: int | None

    @classmethod
    def of(cls, voucher: Voucher, vtype: VoucherType, campaign: VoucherCampaign) -> VoucherOut:
        return cls(
            id=voucher.id,
            code=voucher.code,
            campaign=campaign.code,
            type=vtype.code,
            threshold=vtype.threshold,
            discount=vtype.discount,
            state=service.effective_state(voucher).value,
            claimed_at=voucher.claimed_at,
            expires_at=voucher.expires_at,
            redeemed_at=voucher.redeemed_at,
            order_ref=voucher.order_ref,
            order_amount=voucher.order_amount,
        )


def _voucher_out(session: SessionDep, voucher: Voucher) -> VoucherOut:
    vtype = session.get(VoucherType, voucher.type_id)
    campaign = session.get(VoucherCampaign, voucher.campaign_id)
    assert vtype is not None and campaign is not None
    return VoucherOut.of(voucher, vtype, campaign)


# --------------------------------------------------------------------------- residents


def _resident_of(principal: Principal, resident_id: int | None) -> int:
    if principal.has(*_STAFF):
        if resident_id is None:
            raise InvalidInput("staff name the resident (resident_id)", field="resident_id")
        return resident_id
    if principal.has("resident") and principal.resident_id is not None:
        if resident_id not in (None, principal.resident_id):
            raise Forbidden("you can see your own vouchers only")
        return principal.resident_id
    raise Forbidden("vouchers are shown to their holder and to staff")


class ClaimIn(BaseModel):
    type: str = Field(min_length=1, max_length=32, examples=["8000-600"])


@router.post(
    "/api/v1/vouchers/campaigns/{code}/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=VoucherOut,
)
def claim(
    code: CampaignCode, body: ClaimIn, session: SessionDep, principal: PrincipalDep
) -> VoucherOut:
    """Claim a voucher of a type from today's release (领券); residents claim for themselves."""
    if not principal.has("resident") or principal.resident_id is None:
        raise Forbidden("vouchers are claimed by residents, for themselves")
    voucher = service.claim_voucher(session, code, body.type, principal.resident_id)
    return _voucher_out(session, voucher)


@router.get("/api/v1/vouchers/mine", response_model=list[VoucherOut])
def my_vouchers(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[VoucherOut]:
    """The resident's vouchers (我的券), newest first."""
    rid = _resident_of(principal, resident_id)
    return [
        VoucherOut.of(v, t, c)
        for v, t, c in service.vouchers_of_resident(session, rid, limit=limit)
    ]


class TypeOut(BaseModel):
    code: str
    threshold: int
    discount: int
    daily_quota: int
    left_today: int | None = Field(description="vouchers still to claim today; null: no release")


class CampaignOut(BaseModel):
    code: str
    name: str
    starts_on: dt.date
    ends_on: dt.date
    release_time: dt.time
    valid_hours: int
    redeem_from: dt.time
    redeem_until: dt.time
    budget: int
    types: list[TypeOut]
    merchants: list[str]


def _campaign_out(session: SessionDep, campaign: VoucherCampaign) -> CampaignOut:
    now = clock.now()
    types: list[TypeOut] = []
    for vtype in service.campaign_types(session, campaign):
        release = service.release_of(session, vtype.id, clock.today())
        left = (
            release.quota + release.returned - release.claimed
            if release is not None and release.opens_at <= now
            else None
        )
        types.append(
            TypeOut(
                code=vtype.code,
                threshold=vtype.threshold,
                discount=vtype.discount,
                daily_quota=vtype.daily_quota,
                left_today=left,
            )
        )
    return CampaignOut(
        code=campaign.code,
        name=campaign.name,
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        release_time=campaign.release_time,
        valid_hours=campaign.valid_hours,
        redeem_from=campaign.redeem_from,
        redeem_until=campaign.redeem_until,
        budget=campaign.budget,
        types=types,
        merchants=[m.code for m in service.campaign_merchants(session, campaign)],
    )


@router.get("/api/v1/vouchers/campaigns", response_model=list[CampaignOut])
def campaigns(session: SessionDep, _: PrincipalDep) -> list[CampaignOut]:
    """Campaigns with what is left of today's release (any signed-in user)."""
    return [_campaign_out(session, c) for c in service.list_campaigns(session)]


# --------------------------------------------------------------------------- merchants


class RedemptionIn(BaseModel):
    order_ref: str = Field(min_length=1, max_length=64, examples=["POS-20250310-0001"])
    order_amount: str = Field(max_length=24, examples=["8999.00"], description="yuan")
    card_no: str | None = Field(default=None, min_length=9, max_length=9)
    qr: str | None = Field(default=None, min_length=1, max_length=512, description="e-SSC code")
    voucher_code: str | None = Field(
        default=None,
        min_length=12,
        max_length=12,
        description="omitted: the holder's best voucher the order reaches",
    )

    @model_validator(mode="after")
    def _one_medium(self) -> RedemptionIn:
        if (self.card_no is None) == (self.qr is None):
            raise ValueError("present either card_no or qr")
        return self


class RedemptionOut(VoucherOut):
    merchant: str
    transfer_id: int


@router.post(
    "/api/v1/terminal/voucher-redemptions", response_model=RedemptionOut, dependencies=[SIGNED]
)
async def redeem(request: Request, body: RedemptionIn) -> RedemptionOut:
    """Redeem a voucher on an order (核销): the discount is paid to the merchant by the campaign."""

    def work(session: Session, terminal: Terminal) -> RedemptionOut:
        voucher = service.redeem_voucher(
            session,
            terminal,
            order_ref=body.order_ref,
            order_amount=_fen(body.order_amount, "order_amount"),
            card_no=body.card_no,
            qr=body.qr,
            voucher_code=body.voucher_code,
        )
        out = _voucher_out(session, voucher)
        assert voucher.transfer_id is not None
        return RedemptionOut(
            **out.model_dump(),
            merchant=acquiring.merchant_of(session, terminal).code,
            transfer_id=voucher.transfer_id,
        )

    return await as_terminal(request, work)


class RefundIn(BaseModel):
    voucher_code: str = Field(min_length=12, max_length=12, description="the redeemed voucher")
    order_ref: str = Field(min_length=1, max_length=64, description="order it was redeemed on")
    refund_ref: str = Field(
        min_length=1,
        max_length=64,
        examples=["RET-20250310-0001"],
        description="the merchant's reference of this refund; a retry reuses it",
    )
    amount: str = Field(
        max_length=24, examples=["8999.00"], description="order value returned, yuan"
    )


class RefundOut(BaseModel):
    refund_ref: str
    voucher: VoucherOut
    amount: int = Field(description="order value returned by this refund, fen")
    clawback: int = Field(description="discount taken back from the merchant")
    clawback_to: str | None = Field(
        description="where the clawback went: budget (campaign running), fiscal (after the "
        "close-out); null without a clawback"
    )
    resident_refund: int = Field(description="what the merchant hands back to the resident")
    order_left: int = Field(description="order value kept after this refund")
    refunded_total: int
    refundable: int = Field(description="order value that can still be refunded")
    transfer_id: int | None = Field(description="ledger transfer of the claw-back, if any")
    reinstated_voucher: VoucherOut | None = Field(
        description="the voucher given back to the holder after the claw-back"
    )
    released_again: bool = Field(
        description="the refunded voucher's slot went back to today's release"
    )


@router.post("/api/v1/terminal/voucher-refunds", response_model=RefundOut, dependencies=[SIGNED])
async def refund(request: Request, body: RefundIn) -> RefundOut:
    """Refund (退货) all or part of an order paid with a voucher; by the redeeming merchant only.

    ``amount`` is the order value returned. While the rest of the order still reaches the
    voucher's threshold the resident gets ``amount`` back and the discount stays paid. The refund
    that takes the order below the threshold (a full refund always does) claws the whole discount
    back from the merchant to the campaign budget and gives the resident ``amount − discount``;
    it must be at least the discount. The voucher then becomes ``refunded``: if its 24 h
    validity has not run out, the holder gets a new voucher of the same type valid until the
    same time (``reinstated_voucher``); otherwise its slot goes back to today's release and the
    week's voucher of that type stays used. After the campaign's close-out returns are still
    refunded the same way, but the clawed-back discount goes to the fiscal account
    (``clawback_to: fiscal``) and no voucher or slot is given back. Retrying with the same
    ``refund_ref`` answers the first refund; the same reference with other content is a conflict
    (409). Several partial refunds may add up to the order amount; more is refused (422)."""

    def work(session: Session, terminal: Terminal) -> RefundOut:
        result = service.refund_voucher(
            session,
            terminal,
            voucher_code=body.voucher_code,
            order_ref=body.order_ref,
            refund_ref=body.refund_ref,
            amount=_fen(body.amount, "amount"),
        )
        r = result.refund
        return RefundOut(
            refund_ref=r.refund_ref,
            voucher=_voucher_out(session, result.voucher),
            amount=r.amount,
            clawback=r.clawback,
            clawback_to=r.clawback_to.value if r.clawback_to is not None else None,
            resident_refund=r.resident_refund,
            order_left=r.order_left,
            refunded_total=result.refunded_total,
            refundable=result.refundable,
            transfer_id=r.transfer_id,
            reinstated_voucher=(
                _voucher_out(session, result.reinstated) if result.reinstated is not None else None
            ),
            released_again=result.released_again,
        )

    return await as_terminal(request, work)


# --------------------------------------------------------------------------- staff


class TypeIn(BaseModel):
    threshold: str = Field(max_length=24, examples=["8000"], description="yuan")
    discount: str = Field(max_length=24, examples=["600"], description="yuan")
    daily_quota: int = Field(ge=1, le=10_000_000)


class CampaignIn(BaseModel):
    code: str = Field(pattern=_CODE, examples=["qd-appliances-2025"])
    name: str = Field(min_length=1, max_length=200, examples=["青岛家电消费券"])
    starts_on: dt.date
    ends_on: dt.date
    budget: str = Field(max_length=24, examples=["10000000"], description="yuan")
    funding_reference: str = Field(min_length=1, max_length=64)
    types: list[TypeIn] = Field(min_length=1, max_length=service.MAX_TYPES)
    merchants: list[str] = Field(min_length=1, max_length=1000)
    # seed 002: released every day at 10:00, valid 24 h, redeemed 9:00–22:00.
    release_time: dt.time = dt.time(10, 0)
    valid_hours: int = Field(24, ge=1, le=168)
    redeem_from: dt.time = dt.time(9, 0)
    redeem_until: dt.time = dt.time(22, 0)


@router.post(
    "/api/v1/vouchers/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut
)
def create_campaign(body: CampaignIn, session: SessionDep, who: Principal = _WRITE) -> CampaignOut:
    """Create a campaign with its types, daily releases, merchants and funded budget."""
    campaign = service.create_campaign(
        session,
        code=body.code,
        name=body.name,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        types=[
            service.TypeSpec(
                _fen(t.threshold, f"types[{i}].threshold"),
                _fen(t.discount, f"types[{i}].discount"),
                t.daily_quota,
            )
            for i, t in enumerate(body.types)
        ],
        merchant_codes=body.merchants,
        budget=_fen(body.budget, "budget"),
        funding_reference=body.funding_reference,
        release_time=body.release_time,
        valid_hours=body.valid_hours,
        redeem_from=body.redeem_from,
        redeem_until=body.redeem_until,
        actor=who.subject,
    )
    return _campaign_out(session, campaign)


class TypeReportOut(BaseModel):
    code: str
    threshold: int
    discount: int
    daily_quota: int
    releases_opened: int
    released: int
    returned: int
    claimed: int
    redeemed: int
    expired: int
    outstanding: int
    refunded: int
    reinstated: int
    discount_paid: int
    clawed_back: int
    clawed_back_after_close: int
    subsidy: int


class MerchantReportOut(BaseModel):
    code: str
    name: str
    redemptions: int
    order_total: int
    discount_paid: int
    refunds: int
    refunded_amount: int
    vouchers_refunded: int
    clawed_back: int
    clawed_back_after_close: int
    subsidy: int


class CampaignReportOut(BaseModel):
    code: str
    name: str
    budget: int = Field(description="funded at creation, fen")
    paid: int = Field(description="discounts paid to merchants")
    clawed_back: int = Field(description="discounts taken back to the budget by refunds")
    clawed_back_after_close: int = Field(
        description="discounts taken back by refunds after the close-out, to the fiscal account"
    )
    subsidy: int = Field(
        description="paid − clawed back − clawed back after close-out: what the campaign cost"
    )
    returned: int = Field(description="unspent budget returned to the city at the close-out")
    to_fiscal: int = Field(
        description="returned + clawed back after close-out: what the fiscal account got back"
    )
    balance: int = Field(description="campaign budget account balance (0 once closed)")
    balanced: bool = Field(description="budget − paid + clawed back − returned = balance")
    closed_at: dt.datetime | None
    closed_by: str | None
    types: list[TypeReportOut]
    merchants: list[MerchantReportOut]


def _report_out(session: SessionDep, code: str) -> CampaignReportOut:
    result = service.campaign_report(session, code)
    return CampaignReportOut(
        code=result.campaign.code,
        name=result.campaign.name,
        budget=result.budget,
        paid=result.paid,
        clawed_back=result.clawed_back,
        clawed_back_after_close=result.clawed_back_after_close,
        subsidy=result.subsidy,
        returned=result.returned,
        to_fiscal=result.to_fiscal,
        balance=result.balance,
        balanced=result.balanced,
        closed_at=result.closed_at,
        closed_by=result.closed_by,
        types=[TypeReportOut.model_validate(t, from_attributes=True) for t in result.types],
        merchants=[
            MerchantReportOut.model_validate(m, from_attributes=True) for m in result.merchants
        ],
    )


@router.get("/api/v1/vouchers/campaigns/{code}/report", response_model=CampaignReportOut)
def report(code: CampaignCode, session: SessionDep, _: Principal = _READ) -> CampaignReportOut:
    """Quota released, claimed, redeemed, reclaimed and refunded per type; discounts paid and
    clawed back per merchant; after the close-out, the final position."""
    return _report_out(session, code)


@router.post("/api/v1/vouchers/campaigns/{code}/close", response_model=CampaignReportOut)
def close(code: CampaignCode, session: SessionDep, who: Principal = _WRITE) -> CampaignReportOut:
    """Close a campaign after its last day (活动结算) and answer its close-out report.

    Expired vouchers are reclaimed first; refused (409) before the day after the last day or
    while claimed vouchers are still valid. The budget account's balance goes back to the city
    fiscal account, leaving it at 0; afterwards claims and redemptions are refused, while returns
    are still refunded with their clawed-back discounts going to the fiscal account. Closing again
    changes nothing and answers the same report."""
    service.close_campaign(session, code, actor=who.subject)
    return _report_out(session, code)


class ReclaimOut(BaseModel):
    reclaimed: int


@router.post("/api/v1/vouchers/reclaim", response_model=ReclaimOut)
def reclaim(session: SessionDep, _: Principal = _WRITE) -> ReclaimOut:
    """Reclaim expired vouchers now (the job does it too) and release their slots again."""
    return ReclaimOut(reclaimed=service.reclaim_expired(session))
