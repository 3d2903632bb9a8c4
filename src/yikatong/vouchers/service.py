"""Consumer vouchers (消费券), as in seed 002's home-appliance campaign.

- A campaign has voucher types (满减: spend ``threshold``, get ``discount`` off, e.g. 8000−600),
  each with a daily quota released every day of the campaign at ``release_time`` (Beijing time;
  seed: 10:00). A day's release stays open until midnight.
- A claimed voucher is valid ``valid_hours`` (seed: 24 h). Unused ones are reclaimed — by
  ``reclaim_expired`` (``ykt voucher reclaim``, run as a job) and lazily by every claim of the
  same type — and their slots are added to the release of the day of the reclaim (seed: 过期未
  使用,系统将于次日自动收回并再次发放).
- Each type at most once per person per ISO week (local date of the claim); a voucher that
  expired unused still counts for its week.
- Redemption only at the campaign's merchants, during its redemption hours (seed: 9–22 h), when
  the order reaches the threshold. The discount is paid from the campaign budget to the
  merchant's settlement account (key ``voucher:redeem:<voucher id>``).
- The campaign never promises more than its budget: at creation, every day's quota of every type
  redeemed in full must fit the budget (reclaimed slots only replace vouchers that can no longer
  be redeemed, so they never add to what can be paid).

- Refunds (退货): only the merchant that redeemed a voucher refunds its order, wholly or in parts
  (``refund_voucher``); see there for the money and for when the voucher is given back.
- Close-out (活动结算, ``close_campaign``): after the last day, once no claimed voucher is still
  valid, the unspent budget goes back to the city and the campaign refuses claims and
  redemptions from then on. Returns are still refunded: a discount clawed back after the
  close-out goes to the fiscal account instead of the closed budget, and the report shows it
  apart.

Concurrency: a claim takes its slot with ``UPDATE … SET claimed = claimed + 1 WHERE claimed <
quota + returned`` (the row lock serialises claimers of a type on PostgreSQL; SQLite has one
writer), and the weekly limit is a unique index (type, resident, week), so concurrent claimers
can never over-issue. Lazy reclaiming skips vouchers another transaction is reclaiming.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.clock import CHINA_TZ
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from yikatong.core.money import format_yuan
from yikatong.essc import service as essc_service
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.registry import service as registry
from yikatong.vouchers.models import (
    ClawbackTo,
    Voucher,
    VoucherCampaign,
    VoucherMerchant,
    VoucherRefund,
    VoucherRelease,
    VoucherState,
    VoucherType,
)

__all__ = [
    "FISCAL_ACCOUNT_CODE",
    "CampaignReport",
    "ClawbackTo",
    "MerchantReport",
    "RefundResult",
    "TypeReport",
    "TypeSpec",
    "Voucher",
    "VoucherCampaign",
    "VoucherRefund",
    "VoucherRelease",
    "VoucherState",
    "VoucherType",
    "add_merchant",
    "campaign_merchants",
    "campaign_report",
    "campaign_types",
    "claim_voucher",
    "clawback_destination",
    "close_campaign",
    "create_campaign",
    "effective_state",
    "get_campaign",
    "list_campaigns",
    "reclaim_expired",
    "redeem_voucher",
    "refund_split",
    "refund_voucher",
    "refunds_of_voucher",
    "release_of",
    "vouchers_of_resident",
    "week_of",
]

FISCAL_ACCOUNT_CODE = "voucher:fiscal"
MAX_TYPES = 10
MAX_DAYS = 366
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_ORDER_REF = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff()（）〔〕\[\]/-]{1,64}$")
_VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_VOUCHER_CODE = re.compile(r"^[A-Z2-9]{12}$")


def _actor(actor: str) -> str:
    actor = actor.strip()
    if not actor:
        raise InvalidInput("say who is acting", field="actor")
    return actor[:64]


def week_of(at: dt.datetime) -> str:
    """ISO week of an instant's local (Beijing) date, e.g. ``2025-W11``."""
    year, week, _ = at.astimezone(CHINA_TZ).date().isocalendar()
    return f"{year}-W{week:02d}"


def _local(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=CHINA_TZ).astimezone(dt.UTC)


# --------------------------------------------------------------------------- campaigns


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A voucher type to create: fen amounts and the number released each day."""

    threshold: int
    discount: int
    daily_quota: int

    @property
    def code(self) -> str:
        return f"{format_yuan(self.threshold).removesuffix('.00')}-" + format_yuan(
            self.discount
        ).removesuffix(".00")


def _fiscal_account(session: Session) -> int:
    return ledger.open_account(
        session,
        code=FISCAL_ACCOUNT_CODE,
        kind=AccountKind.BANK,
        name="voucher appropriations 消费券财政资金",
        owner_type="vouchers",
        owner_id="fiscal",
        exist_ok=True,
    ).id


def create_campaign(
    session: Session,
    *,
    code: str,
    name: str,
    starts_on: dt.date,
    ends_on: dt.date,
    types: Sequence[TypeSpec],
    merchant_codes: Sequence[str],
    budget: int,
    funding_reference: str,
    release_time: dt.time,
    valid_hours: int,
    redeem_from: dt.time,
    redeem_until: dt.time,
    actor: str,
) -> VoucherCampaign:
    """Create a campaign: its types, every day's release, its merchants, and its budget funded
    from the appropriation (key ``voucher:fund:<code>``)."""
    code = code.strip()
    if not _CODE.match(code):
        raise InvalidInput(
            "a campaign code is 2–32 lower-case letters, digits or '-', e.g. qd-appliances-2025",
            field="code",
        )
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("give the campaign's name (1–200 characters)", field="name")
    if ends_on < starts_on:
        raise InvalidInput("the campaign ends before it starts", field="ends_on")
    if ends_on < clock.today():
        raise InvalidInput("the campaign is already over; check the dates", field="ends_on")
    days = (ends_on - starts_on).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(f"a campaign runs at most {MAX_DAYS} days", field="ends_on")
    if not 1 <= len(types) <= MAX_TYPES:
        raise InvalidInput(f"a campaign has 1–{MAX_TYPES} voucher types", field="types")
    for index, spec in enumerate(types):
        where = f"types[{index}]"
        for value, label in ((spec.threshold, "threshold"), (spec.discount, "discount")):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10**10:
                raise InvalidInput(f"the {label} must be positive", field=f"{where}.{label}")
        if spec.discount >= spec.threshold:
            raise InvalidInput(
                "the discount must be below the threshold (满减)", field=f"{where}.discount"
            )
        if isinstance(spec.daily_quota, bool) or not 1 <= spec.daily_quota <= 10_000_000:
            raise InvalidInput(
                "the daily quota is 1–10000000 vouchers", field=f"{where}.daily_quota"
            )
    if len({spec.code for spec in types}) != len(types):
        raise InvalidInput("each voucher type appears once", field="types")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise InvalidInput("the budget must be positive", field="budget")
    most = days * sum(spec.daily_quota * spec.discount for spec in types)
    if most > budget:
        raise InvalidInput(
            f"the quotas could cost {format_yuan(most)} yuan if every voucher were used, more "
            f"than the budget of {format_yuan(budget)} yuan; lower the quotas or raise the budget",
            field="budget",
        )
    if not 1 <= valid_hours <= 168:
        raise InvalidInput("a voucher is valid 1–168 hours", field="valid_hours")
    if redeem_from >= redeem_until:
        raise InvalidInput("the redemption hours end before they start", field="redeem_until")
    reference = funding_reference.strip()
    if not _REFERENCE.match(reference):
        raise InvalidInput(
            "a funding reference is 1–64 letters, digits, Chinese characters or -/()",
            field="funding_reference",
        )
    if not merchant_codes:
        raise InvalidInput("name at least one participating merchant", field="merchants")
    actor = _actor(actor)
    if session.scalar(select(VoucherCampaign.id).where(VoucherCampaign.code == code)):
        raise Conflict(f"campaign {code} already exists; list them with `ykt voucher campaigns`")
    merchants = [_participant(session, m) for m in dict.fromkeys(merchant_codes)]
    account = ledger.open_account(
        session,
        code=f"voucher:{code}:budget",
        kind=AccountKind.SUBSIDY_BUDGET,
        name=f"{name} budget",
        owner_type="voucher_campaign",
        owner_id=code,
    )
    campaign = VoucherCampaign(
        code=code,
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        release_time=release_time,
        valid_hours=valid_hours,
        redeem_from=redeem_from,
        redeem_until=redeem_until,
        budget=budget,
        budget_account_id=account.id,
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(campaign)
    session.flush()
    ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"voucher:fund:{code}",
            debit_account_id=_fiscal_account(session),
            credit_account_id=account.id,
            amount=budget,
            metadata={"campaign": code, "reference": reference, "by": actor},
        ),
    )
    for merchant in merchants:
        session.add(VoucherMerchant(campaign_id=campaign.id, merchant_id=merchant.id))
    releases: list[dict[str, Any]] = []
    for spec in types:
        vtype = VoucherType(
            campaign_id=campaign.id,
            code=spec.code,
            threshold=spec.threshold,
            discount=spec.discount,
            daily_quota=spec.daily_quota,
        )
        session.add(vtype)
        session.flush()
        for offset in range(days):
            day = starts_on + dt.timedelta(days=offset)
            releases.append(
                {
                    "type_id": vtype.id,
                    "release_date": day,
                    "opens_at": _local(day, release_time),
                    "closes_at": _local(day + dt.timedelta(days=1), dt.time()),
                    "quota": spec.daily_quota,
                    "returned": 0,
                    "claimed": 0,
                }
            )
    table: Any = VoucherRelease.__table__
    for start in range(0, len(releases), 500):
        session.execute(insert(table), releases[start : start + 500])
    session.flush()
    return campaign


def _participant(session: Session, merchant_code: str) -> acquiring.Merchant:
    merchant = acquiring.get_merchant(session, merchant_code.strip())
    if merchant.kind in acquiring.TRANSIT_KINDS:
        raise InvalidInput(
            f"{merchant.code} is a {merchant.kind.value} operator; vouchers are for shops",
            field="merchants",
        )
    return merchant


def add_merchant(session: Session, campaign_code: str, merchant_code: str) -> VoucherMerchant:
    campaign = get_campaign(session, campaign_code)
    merchant = _participant(session, merchant_code)
    existing = session.scalar(
        select(VoucherMerchant).where(
            VoucherMerchant.campaign_id == campaign.id, VoucherMerchant.merchant_id == merchant.id
        )
    )
    if existing is not None:
        raise Conflict(f"{merchant.code} already takes part in campaign {campaign.code}")
    link = VoucherMerchant(campaign_id=campaign.id, merchant_id=merchant.id)
    session.add(link)
    session.flush()
    return link


def get_campaign(session: Session, code: str) -> VoucherCampaign:
    campaign = session.scalar(select(VoucherCampaign).where(VoucherCampaign.code == code.strip()))
    if campaign is None:
        raise NotFound(f"no voucher campaign {code!r}; list them with `ykt voucher campaigns`")
    return campaign


def list_campaigns(session: Session) -> list[VoucherCampaign]:
    return list(session.scalars(select(VoucherCampaign).order_by(VoucherCampaign.id)))


def campaign_types(session: Session, campaign: VoucherCampaign) -> list[VoucherType]:
    return list(
        session.scalars(
            select(VoucherType)
            .where(VoucherType.campaign_id == campaign.id)
            .order_by(VoucherType.threshold.desc())
        )
    )


def campaign_merchants(session: Session, campaign: VoucherCampaign) -> list[acquiring.Merchant]:
    return list(
        session.scalars(
            select(acquiring.Merchant)
            .join(VoucherMerchant, VoucherMerchant.merchant_id == acquiring.Merchant.id)
            .where(VoucherMerchant.campaign_id == campaign.id)
            .order_by(acquiring.Merchant.code)
        )
    )


def _type_by_code(session: Session, campaign: VoucherCampaign, type_code: str) -> VoucherType:
    vtype = session.scalar(
        select(VoucherType).where(
            VoucherType.campaign_id == campaign.id, VoucherType.code == type_code.strip()
        )
    )
    if vtype is None:
        codes = ", ".join(t.code for t in campaign_types(session, campaign))
        raise NotFound(
            f"campaign {campaign.code} has no voucher type {type_code!r}; it has {codes}"
        )
    return vtype


def release_of(session: Session, type_id: int, day: dt.date) -> VoucherRelease | None:
    return session.scalar(
        select(VoucherRelease)
        .where(VoucherRelease.type_id == type_id, VoucherRelease.release_date == day)
        .execution_options(populate_existing=True)
    )


# --------------------------------------------------------------------------- reclaiming


def reclaim_expired(session: Session, *, type_id: int | None = None, limit: int = 10_000) -> int:
    """Reclaim vouchers whose validity ended unused (自动收回): each becomes ``expired`` and its
    slot is added to the release of the day of the reclaim (if the campaign still releases).

    Vouchers another transaction is reclaiming right now are skipped (it returns them)."""
    now = clock.now()
    query = (
        select(Voucher.id, Voucher.type_id)
        .where(Voucher.state == VoucherState.CLAIMED, Voucher.expires_at <= now)
        .order_by(Voucher.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if type_id is not None:
        query = query.where(Voucher.type_id == type_id)
    by_type: dict[int, list[int]] = {}
    for voucher_id, of_type in session.execute(query):
        by_type.setdefault(of_type, []).append(voucher_id)
    today = now.astimezone(CHINA_TZ).date()
    reclaimed = 0
    for of_type in sorted(by_type):
        ids = by_type[of_type]
        target = release_of(session, of_type, today)
        result = cast(
            CursorResult[Any],
            session.execute(
                update(Voucher)
                .where(Voucher.id.in_(ids), Voucher.state == VoucherState.CLAIMED)
                .values(
                    state=VoucherState.EXPIRED,
                    reclaimed_at=now,
                    returned_to_release_id=target.id if target is not None else None,
                )
                .execution_options(synchronize_session=False)
            ),
        )
        count = result.rowcount
        if count and target is not None:
            session.execute(
                update(VoucherRelease)
                .where(VoucherRelease.id == target.id)
                .values(returned=VoucherRelease.returned + count)
            )
        reclaimed += count
    session.flush()
    session.expire_all()
    return reclaimed


def _refuse_closed(campaign: VoucherCampaign, what: str) -> None:
    if campaign.closed_at is not None:
        raise Conflict(
            f"campaign {campaign.code} was closed on "
            f"{campaign.closed_at.astimezone(CHINA_TZ):%Y-%m-%d %H:%M} Beijing time; its vouchers "
            f"can no longer be {what}",
            closed_at=campaign.closed_at.isoformat(),
        )


def effective_state(voucher: Voucher, now: dt.datetime | None = None) -> VoucherState:
    """The state as the holder sees it: a claimed voucher past its validity is expired even
    before the reclaim job has run."""
    at = now or clock.now()
    if voucher.state is VoucherState.CLAIMED and voucher.expires_at <= at:
        return VoucherState.EXPIRED
    return voucher.state


# --------------------------------------------------------------------------- claiming


def _new_code() -> str:
    return "".join(secrets.choice(_VOUCHER_ALPHABET) for _ in range(12))


def claim_voucher(
    session: Session, campaign_code: str, type_code: str, resident_id: int
) -> Voucher:
    """Claim one voucher of a type from today's release (领券)."""
    campaign = get_campaign(session, campaign_code)
    _refuse_closed(campaign, "claimed")
    vtype = _type_by_code(session, campaign, type_code)
    resident = registry.get_resident(session, resident_id)
    if resident.status != "active":
        raise Conflict(f"resident {resident_id} is deceased; vouchers are for living residents")
    now = clock.now()
    today = now.astimezone(CHINA_TZ).date()
    release = release_of(session, vtype.id, today)
    if release is None:
        raise Conflict(
            f"campaign {campaign.code} releases vouchers from {campaign.starts_on} to "
            f"{campaign.ends_on}; there is no release today ({today})"
        )
    if now < release.opens_at:
        raise Conflict(
            f"today's {vtype.code} vouchers are released at "
            f"{campaign.release_time.strftime('%H:%M')} Beijing time; come back then",
            opens_at=release.opens_at.isoformat(),
        )
    week = week_of(now)
    held = session.scalar(
        select(Voucher).where(
            Voucher.type_id == vtype.id, Voucher.resident_id == resident.id, Voucher.week == week
        )
    )
    if held is not None:
        raise Conflict(
            f"you already claimed a {vtype.code} voucher in week {week}; each type can be "
            "claimed once a week",
            voucher=held.code,
        )
    reclaim_expired(session, type_id=vtype.id)
    taken = cast(
        CursorResult[Any],
        session.execute(
            update(VoucherRelease)
            .where(
                VoucherRelease.id == release.id,
                VoucherRelease.claimed < VoucherRelease.quota + VoucherRelease.returned,
            )
            .values(claimed=VoucherRelease.claimed + 1)
        ),
    )
    if taken.rowcount != 1:
        raise Conflict(
            f"today's {vtype.code} vouchers are all claimed; the next release is tomorrow at "
            f"{campaign.release_time.strftime('%H:%M')} Beijing time"
        )
    voucher = Voucher(
        code=_new_code(),
        campaign_id=campaign.id,
        type_id=vtype.id,
        release_id=release.id,
        resident_id=resident.id,
        week=week,
        state=VoucherState.CLAIMED,
        claimed_at=now,
        expires_at=now + dt.timedelta(hours=campaign.valid_hours),
    )
    try:
        with session.begin_nested():
            session.add(voucher)
            session.flush()
    except IntegrityError:
        # A concurrent claim of the same person and type won the unique (type, resident, week).
        raise Conflict(
            f"you already claimed a {vtype.code} voucher in week {week}; each type can be "
            "claimed once a week"
        ) from None
    return voucher


def vouchers_of_resident(
    session: Session, resident_id: int, *, limit: int = 100
) -> list[tuple[Voucher, VoucherType, VoucherCampaign]]:
    """A resident's vouchers, newest first, with their type and campaign."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    query = (
        select(Voucher, VoucherType, VoucherCampaign)
        .join(VoucherType, VoucherType.id == Voucher.type_id)
        .join(VoucherCampaign, VoucherCampaign.id == Voucher.campaign_id)
        .where(Voucher.resident_id == resident_id)
        .order_by(Voucher.claimed_at.desc(), Voucher.id.desc())
        .limit(limit)
    )
    return [(v, t, c) for v, t, c in session.execute(query)]


# --------------------------------------------------------------------------- redemption


def _holder(session: Session, card_no: str | None, qr: str | None) -> int:
    """The resident presenting a card number or an e-SSC code (L1 or L2)."""
    if (card_no is None) == (qr is None):
        raise InvalidInput("present either a card number or a QR code, not both", field="card_no")
    if card_no is not None:
        card = cards_service.get_card(session, card_no)
        if card.state != "active":
            raise Conflict(f"card {card.card_no} is {card.state}; it cannot be used")
        return card.resident_id
    verdict = essc_service.verify_online(session, cast(str, qr))
    return cards_service.get_card_by_ref(session, verdict.claims.card_ref).resident_id


def _reference(value: str, what: str, field: str) -> str:
    """A merchant's order or refund reference, stripped, or InvalidInput naming ``field``."""
    value = value.strip()
    if not _ORDER_REF.match(value):
        raise InvalidInput(f"{what} reference is 1–64 letters, digits, '-' or '_'", field=field)
    return value


def _positive_fen(value: object, what: str, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"{what} must be positive", field=field)


def redeem_voucher(
    session: Session,
    terminal: acquiring.Terminal,
    *,
    order_ref: str,
    order_amount: int,
    card_no: str | None = None,
    qr: str | None = None,
    voucher_code: str | None = None,
) -> Voucher:
    """Redeem a voucher on an order at a participating merchant (核销, 满额立减).

    The holder presents the card or an e-SSC code; without ``voucher_code`` the holder's valid
    voucher with the largest discount the order reaches is used. A retry with the same order
    reference answers the first redemption.
    """
    order_ref = _reference(order_ref, "an order", "order_ref")
    _positive_fen(order_amount, "the order amount", "order_amount")
    if voucher_code is not None:
        voucher_code = voucher_code.strip().upper()
        if not _VOUCHER_CODE.match(voucher_code):
            raise InvalidInput("a voucher code is 12 letters and digits", field="voucher_code")
    merchant = acquiring.merchant_of(session, terminal)
    earlier = session.scalar(
        select(Voucher).where(Voucher.merchant_id == merchant.id, Voucher.order_ref == order_ref)
    )
    if earlier is not None:
        return _same_order(earlier, order_amount, voucher_code)
    resident_id = _holder(session, card_no, qr)
    now = clock.now()
    if voucher_code is not None:
        voucher = session.scalar(
            select(Voucher).where(Voucher.code == voucher_code).with_for_update()
        )
        if voucher is None:
            raise NotFound(f"no voucher {voucher_code}")
        if voucher.resident_id != resident_id:
            raise Forbidden("this voucher belongs to another resident; it cannot be used here")
    else:
        voucher = _best_voucher(session, resident_id, merchant, order_amount, now)
    if voucher.state in (VoucherState.REDEEMED, VoucherState.REFUNDED):
        if voucher.merchant_id == merchant.id and voucher.order_ref == order_ref:
            return _same_order(voucher, order_amount, voucher_code)
        raise Conflict(f"voucher {voucher.code} was already used on {voucher.redeemed_at}")
    closed = session.get(VoucherCampaign, voucher.campaign_id)
    assert closed is not None
    _refuse_closed(closed, "redeemed")
    if effective_state(voucher, now) is VoucherState.EXPIRED:
        raise Conflict(
            f"voucher {voucher.code} expired at {voucher.expires_at.astimezone(CHINA_TZ)}; "
            "claim a new one at the next release"
        )
    campaign = session.get(VoucherCampaign, voucher.campaign_id)
    vtype = session.get(VoucherType, voucher.type_id)
    assert campaign is not None and vtype is not None
    if not _takes_part(session, campaign.id, merchant.id):
        raise Forbidden(
            f"{merchant.name} does not take part in campaign {campaign.name}; the voucher is "
            "accepted at its participating merchants only"
        )
    local = now.astimezone(CHINA_TZ).time()
    if not campaign.redeem_from <= local < campaign.redeem_until:
        raise Conflict(
            f"vouchers are redeemed from {campaign.redeem_from.strftime('%H:%M')} to "
            f"{campaign.redeem_until.strftime('%H:%M')} Beijing time"
        )
    if order_amount < vtype.threshold:
        raise InvalidInput(
            f"the order of {format_yuan(order_amount)} yuan does not reach the threshold of "
            f"{format_yuan(vtype.threshold)} yuan of voucher {vtype.code}",
            field="order_amount",
        )
    try:
        with session.begin_nested():
            voucher.transfer_id = ledger.post_transfer(
                session,
                ledger.TransferRequest(
                    idempotency_key=f"voucher:redeem:{voucher.id}",
                    debit_account_id=campaign.budget_account_id,
                    credit_account_id=merchant.settlement_account_id,
                    amount=vtype.discount,
                    metadata={
                        "voucher": voucher.code,
                        "order": order_ref,
                        "campaign": campaign.code,
                    },
                ),
            ).id
            voucher.state = VoucherState.REDEEMED
            voucher.redeemed_at = now
            voucher.merchant_id = merchant.id
            voucher.terminal_no = terminal.terminal_no
            voucher.order_ref = order_ref
            voucher.order_amount = order_amount
            session.flush()
    except IntegrityError:
        # The same order was settled by a concurrent request with another voucher.
        raise Conflict(
            f"order {order_ref} was settled by a concurrent request; send it again to read it"
        ) from None
    return voucher


def _same_order(voucher: Voucher, order_amount: int, voucher_code: str | None) -> Voucher:
    if voucher.order_amount != order_amount or voucher_code not in (None, voucher.code):
        raise Conflict(
            f"order {voucher.order_ref} was already settled with voucher {voucher.code} on "
            f"{format_yuan(voucher.order_amount or 0)} yuan; use a new order reference"
        )
    return voucher


def _takes_part(session: Session, campaign_id: int, merchant_id: int) -> bool:
    return (
        session.scalar(
            select(VoucherMerchant.id).where(
                VoucherMerchant.campaign_id == campaign_id,
                VoucherMerchant.merchant_id == merchant_id,
            )
        )
        is not None
    )


def _best_voucher(
    session: Session,
    resident_id: int,
    merchant: acquiring.Merchant,
    order_amount: int,
    now: dt.datetime,
) -> Voucher:
    participating = select(VoucherMerchant.campaign_id).where(
        VoucherMerchant.merchant_id == merchant.id
    )
    voucher = session.scalar(
        select(Voucher)
        .join(VoucherType, VoucherType.id == Voucher.type_id)
        .where(
            Voucher.resident_id == resident_id,
            Voucher.state == VoucherState.CLAIMED,
            Voucher.expires_at > now,
            Voucher.campaign_id.in_(participating),
            VoucherType.threshold <= order_amount,
        )
        .order_by(VoucherType.discount.desc(), Voucher.expires_at, Voucher.id)
        .limit(1)
        .with_for_update(of=Voucher)
    )
    if voucher is None:
        raise Conflict(
            f"the holder has no valid voucher that {merchant.name} accepts for an order of "
            f"{format_yuan(order_amount)} yuan"
        )
    return voucher


# --------------------------------------------------------------------------- refunds


@dataclass(frozen=True, slots=True)
class RefundResult:
    """A refund with the state of its order afterwards.

    ``reinstated`` is the voucher given back to the holder (when the discount was clawed back
    within the validity of the refunded voucher); ``released_again`` says the slot of the
    refunded voucher went back to a day's release instead.
    """

    refund: VoucherRefund
    voucher: Voucher
    refunded_total: int  # order value returned so far, this refund included
    refundable: int  # order value that can still be returned
    reinstated: Voucher | None
    released_again: bool


def refund_voucher(
    session: Session,
    terminal: acquiring.Terminal,
    *,
    voucher_code: str,
    order_ref: str,
    refund_ref: str,
    amount: int,
) -> RefundResult:
    """Refund (退货) ``amount`` fen of the order a voucher was redeemed on, wholly or in part.

    Only the merchant that redeemed the voucher refunds, from one of its terminals; several
    partial refunds may add up to the order amount, each under its own ``refund_ref`` (a retry
    with the same reference and content answers the first refund; other content is a conflict).

    Money. The resident paid the merchant ``order − discount`` at the till, outside the ledger;
    the campaign paid the discount (ledger: budget → merchant settlement). So:

    - while the order left after the refund still reaches the voucher's threshold, the resident
      gets the whole ``amount`` back and the discount stays paid;
    - the refund that takes the order below the threshold (a full refund always does) claws the
      whole discount back: the compensating transfer merchant settlement → campaign budget
      (``ledger.reverse_transfer`` of the redemption, key ``voucher:clawback:<voucher id>``), and
      the resident gets ``amount − discount`` back (they keep no discount they no longer qualify
      for). Such a refund must be at least the discount; later refunds are paid back in full.

    ``resident_refund`` of the result is what the merchant hands back at the till.

    The voucher. When the discount is clawed back the voucher becomes ``refunded`` (its
    redemption stays recorded). Rule: if the voucher's validity (24 h from the claim) has not run
    out, the holder is given a new voucher of the same type, valid until the same instant — it
    takes the place of the refunded one in that week, so the resident can still use the week's
    voucher; otherwise the slot goes back to today's release like a reclaimed voucher (if the
    campaign still releases today), and the week's voucher of that type stays used.

    After the close-out (returns come days later) the orders redeemed before it are refunded
    under the same rules, but the campaign is over: the discount clawed back goes from the
    merchant to the fiscal account the unspent budget was returned to (key
    ``voucher:clawback-fiscal:<voucher id>``; the closed budget stays at 0), the voucher is not
    given back and no slot is released. ``clawback_to`` of the refund says where it went. The seed
    sets no time limit on returns, so none is applied here.
    """
    voucher_code = voucher_code.strip().upper()
    if not _VOUCHER_CODE.match(voucher_code):
        raise InvalidInput("a voucher code is 12 letters and digits", field="voucher_code")
    order_ref = _reference(order_ref, "an order", "order_ref")
    refund_ref = _reference(refund_ref, "a refund", "refund_ref")
    _positive_fen(amount, "the refund amount", "amount")
    merchant = acquiring.merchant_of(session, terminal)
    voucher = session.scalar(select(Voucher).where(Voucher.code == voucher_code))
    if voucher is None:
        raise NotFound(f"no voucher {voucher_code}")
    if voucher.state not in (VoucherState.REDEEMED, VoucherState.REFUNDED):
        raise Conflict(
            f"voucher {voucher.code} was not used on an order; there is nothing to refund"
        )
    if voucher.merchant_id != merchant.id:
        raise Forbidden(
            f"voucher {voucher.code} was not redeemed at {merchant.name}; only the merchant that "
            "redeemed it can refund its order"
        )
    if voucher.order_ref != order_ref:
        raise Conflict(
            f"voucher {voucher.code} was redeemed on order {voucher.order_ref}, not {order_ref}"
        )
    # The campaign row serialises refunds with the close-out (and with each other).
    campaign = session.scalar(
        select(VoucherCampaign)
        .where(VoucherCampaign.id == voucher.campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert campaign is not None
    earlier = session.scalar(
        select(VoucherRefund).where(
            VoucherRefund.merchant_id == merchant.id, VoucherRefund.refund_ref == refund_ref
        )
    )
    if earlier is not None:
        if (earlier.voucher_id, earlier.amount) != (voucher.id, amount):
            raise Conflict(
                f"refund {refund_ref} was already made of {format_yuan(earlier.amount)} yuan on "
                "another or the same order; use a new refund reference",
                refund=earlier.id,
            )
        return _refund_result(session, earlier)
    voucher = session.scalar(
        select(Voucher)
        .where(Voucher.id == voucher.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert voucher is not None and voucher.order_amount is not None
    vtype = session.get(VoucherType, voucher.type_id)
    assert vtype is not None
    order_left, clawback = refund_split(
        order_amount=voucher.order_amount,
        refunded=_refunded_total(session, voucher.id),
        amount=amount,
        threshold=vtype.threshold,
        discount=vtype.discount,
        discount_kept=voucher.state is VoucherState.REDEEMED,
    )
    now = clock.now()
    transfer_id: int | None = None
    clawback_to: ClawbackTo | None = None
    if clawback:
        assert voucher.transfer_id is not None
        reason = f"refund {refund_ref} of order {order_ref} (voucher {voucher.code})"
        clawback_to = clawback_destination(campaign)
        if clawback_to is ClawbackTo.BUDGET:
            transfer_id = ledger.reverse_transfer(
                session,
                voucher.transfer_id,
                idempotency_key=f"voucher:clawback:{voucher.id}",
                reason=reason,
            ).id
        else:
            transfer_id = _claw_back_to_fiscal(session, campaign, voucher, clawback, reason)
        voucher.state = VoucherState.REFUNDED
        voucher.refunded_at = now
        session.flush()
        if clawback_to is ClawbackTo.BUDGET:
            _give_back(session, voucher, now)
    refund = VoucherRefund(
        voucher_id=voucher.id,
        campaign_id=voucher.campaign_id,
        merchant_id=merchant.id,
        terminal_no=terminal.terminal_no,
        refund_ref=refund_ref,
        amount=amount,
        clawback=clawback,
        resident_refund=amount - clawback,
        order_left=order_left,
        transfer_id=transfer_id,
        clawback_to=clawback_to,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(refund)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"refund {refund_ref} was made by a concurrent request; send it again to read it"
        ) from None
    return _refund_result(session, refund)


def clawback_destination(campaign: VoucherCampaign) -> ClawbackTo:
    """Where a discount clawed back now goes: the campaign budget while the campaign runs; once
    it is closed, the fiscal account its unspent budget was returned to (the budget stays 0)."""
    return ClawbackTo.BUDGET if campaign.closed_at is None else ClawbackTo.FISCAL


def _claw_back_to_fiscal(
    session: Session, campaign: VoucherCampaign, voucher: Voucher, amount: int, reason: str
) -> int:
    """Take a redeemed voucher's discount back from the merchant that was paid it and pay it to
    the fiscal account (after the close-out); answers the transfer id."""
    assert voucher.transfer_id is not None
    redemption = ledger.get_transfer(session, voucher.transfer_id)
    return ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"voucher:clawback-fiscal:{voucher.id}",
            debit_account_id=redemption.credit_account_id,
            credit_account_id=_fiscal_account(session),
            amount=amount,
            metadata={
                "campaign": campaign.code,
                "voucher": voucher.code,
                "clawback_of": redemption.id,
                "after-close-out": True,
                "reason": reason[:200],
            },
        ),
    ).id


def _give_back(session: Session, voucher: Voucher, now: dt.datetime) -> None:
    """A refunded voucher of a running campaign: a new one for its holder while it would still be
    valid, else its slot to today's release (if the campaign still releases today)."""
    if now < voucher.expires_at:
        session.add(
            Voucher(
                code=_new_code(),
                campaign_id=voucher.campaign_id,
                type_id=voucher.type_id,
                release_id=voucher.release_id,
                resident_id=voucher.resident_id,
                week=voucher.week,
                state=VoucherState.CLAIMED,
                claimed_at=now,
                expires_at=voucher.expires_at,
                reinstates_id=voucher.id,
            )
        )
        return
    target = release_of(session, voucher.type_id, now.astimezone(CHINA_TZ).date())
    if target is not None:
        voucher.returned_to_release_id = target.id
        session.execute(
            update(VoucherRelease)
            .where(VoucherRelease.id == target.id)
            .values(returned=VoucherRelease.returned + 1)
        )


def refund_split(
    *,
    order_amount: int,
    refunded: int,
    amount: int,
    threshold: int,
    discount: int,
    discount_kept: bool,
) -> tuple[int, int]:
    """``(order_left, clawback)`` of refunding ``amount`` of an order of which ``refunded`` was
    already returned: the whole ``discount`` is clawed back by the refund that takes the order
    below ``threshold`` while the discount is still kept, and that refund must cover it."""
    left = order_amount - refunded
    if amount > left:
        raise InvalidInput(
            f"only {format_yuan(left)} yuan of the order of {format_yuan(order_amount)} yuan can "
            "still be refunded",
            field="amount",
        )
    order_left = left - amount
    if not discount_kept or order_left >= threshold:
        return order_left, 0
    if amount < discount:
        raise InvalidInput(
            f"after this refund the order ({format_yuan(order_left)} yuan) no longer reaches the "
            f"{format_yuan(threshold)} yuan threshold, so the {format_yuan(discount)} yuan "
            f"discount is taken back from the refund; refund at least {format_yuan(discount)} "
            "yuan (or return whole items)",
            field="amount",
        )
    return order_left, discount


def _refunded_total(session: Session, voucher_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(VoucherRefund.amount), 0)).where(
                VoucherRefund.voucher_id == voucher_id
            )
        )
        or 0
    )


def _refund_result(session: Session, refund: VoucherRefund) -> RefundResult:
    voucher = session.get(Voucher, refund.voucher_id)
    assert voucher is not None and voucher.order_amount is not None
    total = _refunded_total(session, voucher.id)
    reinstated = session.scalar(select(Voucher).where(Voucher.reinstates_id == voucher.id))
    return RefundResult(
        refund=refund,
        voucher=voucher,
        refunded_total=total,
        refundable=voucher.order_amount - total,
        reinstated=reinstated,
        released_again=voucher.returned_to_release_id is not None
        and voucher.state is VoucherState.REFUNDED,
    )


def refunds_of_voucher(session: Session, voucher_id: int) -> list[VoucherRefund]:
    return list(
        session.scalars(
            select(VoucherRefund)
            .where(VoucherRefund.voucher_id == voucher_id)
            .order_by(VoucherRefund.id)
        )
    )


# --------------------------------------------------------------------------- close-out


def close_campaign(session: Session, campaign_code: str, *, actor: str) -> VoucherCampaign:
    """Close a campaign after its last day (活动结算): return its unspent budget to the city.

    Expired vouchers are reclaimed first; the close-out is refused while any claimed voucher of
    the campaign is still within its validity. The campaign budget's whole balance (funded −
    discounts paid + discounts clawed back by refunds) goes back to the fiscal account (key
    ``voucher:close:<code>``), so the budget account ends at 0. From then on the campaign
    refuses claims and redemptions; returns of orders redeemed before are still refunded, their
    clawed-back discounts going to the fiscal account (see ``refund_voucher``). Closing a closed
    campaign changes nothing.
    """
    actor = _actor(actor)
    found = get_campaign(session, campaign_code)
    campaign = session.scalar(
        select(VoucherCampaign)
        .where(VoucherCampaign.id == found.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert campaign is not None
    if campaign.closed_at is not None:
        return campaign
    today = clock.today()
    if today <= campaign.ends_on:
        raise Conflict(
            f"campaign {campaign.code} runs until {campaign.ends_on}; close it from "
            f"{campaign.ends_on + dt.timedelta(days=1)} on"
        )
    batch = 10_000
    for vtype in campaign_types(session, campaign):
        while reclaim_expired(session, type_id=vtype.id, limit=batch) == batch:
            continue
    now = clock.now()
    valid, latest = session.execute(
        select(func.count(Voucher.id), func.max(Voucher.expires_at)).where(
            Voucher.campaign_id == campaign.id,
            Voucher.state == VoucherState.CLAIMED,
            Voucher.expires_at > now,
        )
    ).one()
    if valid:
        until = latest if isinstance(latest, dt.datetime) else now
        if until.tzinfo is None:
            until = until.replace(tzinfo=dt.UTC)
        raise Conflict(
            f"{valid} claimed vouchers of campaign {campaign.code} are still valid (the last "
            f"until {until.astimezone(CHINA_TZ):%Y-%m-%d %H:%M} Beijing time); close it after that",
            valid_vouchers=int(valid),
        )
    campaign = session.get(VoucherCampaign, campaign.id)
    assert campaign is not None
    left = int(ledger.balance(session, campaign.budget_account_id))
    if left > 0:
        campaign.close_transfer_id = ledger.post_transfer(
            session,
            ledger.TransferRequest(
                idempotency_key=f"voucher:close:{campaign.code}",
                debit_account_id=campaign.budget_account_id,
                credit_account_id=_fiscal_account(session),
                amount=left,
                metadata={"campaign": campaign.code, "close-out": True, "by": actor},
            ),
        ).id
    campaign.closed_at = now
    campaign.closed_by = actor
    session.flush()
    return campaign


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class TypeReport:
    """One type. ``claimed`` counts slots taken from releases (reinstated vouchers take none);
    ``redeemed`` every voucher used on an order, ``refunded`` those whose discount was clawed
    back (to the budget, or after the close-out to the fiscal account);
    ``subsidy = discount_paid − clawed_back − clawed_back_after_close``."""

    code: str
    threshold: int
    discount: int
    daily_quota: int
    releases_opened: int
    released: int  # quota of the releases opened so far
    returned: int  # reclaimed (or refunded) slots released again
    claimed: int
    redeemed: int
    expired: int  # reclaimed unused
    outstanding: int  # claimed, not yet used nor reclaimed
    refunded: int
    reinstated: int  # vouchers given back to their holder after a refund
    discount_paid: int
    clawed_back: int  # to the campaign budget
    clawed_back_after_close: int  # after the close-out, to the fiscal account
    subsidy: int


@dataclass(frozen=True, slots=True)
class MerchantReport:
    code: str
    name: str
    redemptions: int
    order_total: int
    discount_paid: int
    refunds: int = 0  # refund records (partial ones included)
    refunded_amount: int = 0  # order value returned
    vouchers_refunded: int = 0  # vouchers whose discount was clawed back
    clawed_back: int = 0  # to the campaign budget
    clawed_back_after_close: int = 0  # after the close-out, to the fiscal account
    subsidy: int = 0


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """A campaign's figures; after the close-out its final position (活动结算).

    ``funded − paid + clawed_back − returned == balance`` to the fen, and ``balance`` is the
    campaign budget account's ledger balance (0 once closed). Discounts clawed back by refunds
    after the close-out never touch the budget: they went to the fiscal account and are counted
    apart in ``clawed_back_after_close``."""

    campaign: VoucherCampaign
    budget: int  # funded at creation
    paid: int  # discounts paid to merchants
    balance: int
    types: list[TypeReport]
    merchants: list[MerchantReport]
    clawed_back: int = 0  # discounts taken back to the budget by refunds
    returned: int = 0  # unspent budget returned to the city at the close-out
    # what the campaign finally cost: paid − clawed back − clawed back after the close-out
    subsidy: int = 0
    closed_at: dt.datetime | None = None
    closed_by: str | None = None
    clawed_back_after_close: int = 0  # discounts taken back after the close-out → fiscal

    @property
    def balanced(self) -> bool:
        return self.budget - self.paid + self.clawed_back - self.returned == self.balance

    @property
    def to_fiscal(self) -> int:
        """What the fiscal account got back from the campaign: the unspent budget at the
        close-out and the discounts clawed back after it."""
        return self.returned + self.clawed_back_after_close


def _clawed_back(session: Session, *where: Any) -> dict[ClawbackTo, int]:
    """Discounts clawed back by the refunds matching ``where``, by where they went."""
    rows = session.execute(
        select(VoucherRefund.clawback_to, func.sum(VoucherRefund.clawback))
        .join(Voucher, Voucher.id == VoucherRefund.voucher_id)
        .where(VoucherRefund.clawback_to.is_not(None), *where)
        .group_by(VoucherRefund.clawback_to)
    )
    return {ClawbackTo(str(to)): int(total) for to, total in rows}


def campaign_report(session: Session, campaign_code: str) -> CampaignReport:
    """Quota, claims, redemptions, refunds and money of a campaign (活动报表); the close-out
    report once closed."""
    campaign = get_campaign(session, campaign_code)
    now = clock.now()
    rows: list[TypeReport] = []
    for vtype in campaign_types(session, campaign):
        opened = session.execute(
            select(
                func.count(VoucherRelease.id),
                func.coalesce(func.sum(VoucherRelease.quota), 0),
                func.coalesce(func.sum(VoucherRelease.returned), 0),
                func.coalesce(func.sum(VoucherRelease.claimed), 0),
            ).where(VoucherRelease.type_id == vtype.id, VoucherRelease.opens_at <= now)
        ).one()
        states = dict(
            session.execute(
                select(Voucher.state, func.count(Voucher.id))
                .where(Voucher.type_id == vtype.id)
                .group_by(Voucher.state)
            ).all()
        )
        reinstated = session.scalar(
            select(func.count(Voucher.id)).where(
                Voucher.type_id == vtype.id, Voucher.reinstates_id.is_not(None)
            )
        )
        refunded = int(states.get(VoucherState.REFUNDED, 0))
        redeemed = int(states.get(VoucherState.REDEEMED, 0)) + refunded
        clawed = _clawed_back(session, Voucher.type_id == vtype.id)
        to_budget, to_fiscal = clawed.get(ClawbackTo.BUDGET, 0), clawed.get(ClawbackTo.FISCAL, 0)
        rows.append(
            TypeReport(
                code=vtype.code,
                threshold=vtype.threshold,
                discount=vtype.discount,
                daily_quota=vtype.daily_quota,
                releases_opened=int(opened[0]),
                released=int(opened[1]),
                returned=int(opened[2]),
                claimed=int(opened[3]),
                redeemed=redeemed,
                expired=int(states.get(VoucherState.EXPIRED, 0)),
                outstanding=int(states.get(VoucherState.CLAIMED, 0)),
                refunded=refunded,
                reinstated=int(reinstated or 0),
                discount_paid=redeemed * vtype.discount,
                clawed_back=to_budget,
                clawed_back_after_close=to_fiscal,
                subsidy=redeemed * vtype.discount - to_budget - to_fiscal,
            )
        )
    merchants: list[MerchantReport] = []
    used = (VoucherState.REDEEMED, VoucherState.REFUNDED)
    for merchant in campaign_merchants(session, campaign):
        count, orders, paid = session.execute(
            select(
                func.count(Voucher.id),
                func.coalesce(func.sum(Voucher.order_amount), 0),
                func.coalesce(func.sum(VoucherType.discount), 0),
            )
            .join(VoucherType, VoucherType.id == Voucher.type_id)
            .where(
                Voucher.campaign_id == campaign.id,
                Voucher.merchant_id == merchant.id,
                Voucher.state.in_(used),
            )
        ).one()
        refunds, returned_value = session.execute(
            select(
                func.count(VoucherRefund.id),
                func.coalesce(func.sum(VoucherRefund.amount), 0),
            ).where(
                VoucherRefund.campaign_id == campaign.id,
                VoucherRefund.merchant_id == merchant.id,
            )
        ).one()
        clawed = _clawed_back(
            session,
            VoucherRefund.campaign_id == campaign.id,
            VoucherRefund.merchant_id == merchant.id,
        )
        to_budget, to_fiscal = clawed.get(ClawbackTo.BUDGET, 0), clawed.get(ClawbackTo.FISCAL, 0)
        vouchers_refunded = session.scalar(
            select(func.count(Voucher.id)).where(
                Voucher.campaign_id == campaign.id,
                Voucher.merchant_id == merchant.id,
                Voucher.state == VoucherState.REFUNDED,
            )
        )
        merchants.append(
            MerchantReport(
                merchant.code,
                merchant.name,
                int(count),
                int(orders or 0),
                int(paid),
                refunds=int(refunds),
                refunded_amount=int(returned_value),
                vouchers_refunded=int(vouchers_refunded or 0),
                clawed_back=to_budget,
                clawed_back_after_close=to_fiscal,
                subsidy=int(paid) - to_budget - to_fiscal,
            )
        )
    returned = 0
    if campaign.close_transfer_id is not None:
        returned = ledger.get_transfer(session, campaign.close_transfer_id).amount
    paid_total = sum(t.discount_paid for t in rows)
    clawed_total = sum(t.clawed_back for t in rows)
    late_total = sum(t.clawed_back_after_close for t in rows)
    return CampaignReport(
        campaign=campaign,
        budget=campaign.budget,
        paid=paid_total,
        balance=int(ledger.balance(session, campaign.budget_account_id)),
        types=rows,
        merchants=merchants,
        clawed_back=clawed_total,
        returned=returned,
        subsidy=paid_total - clawed_total - late_total,
        closed_at=campaign.closed_at,
        closed_by=campaign.closed_by,
        clawed_back_after_close=late_total,
    )
