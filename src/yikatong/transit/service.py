"""Transit (一卡通乘): rides at bus and metro terminals priced by the city's fare policy,
transport-purse top-ups through the card's bank, and the rider's ride history.

A ride is an acquiring tap at a bus or metro terminal; this module supplies its price. Metro
gates tap once, at the exit, with the entry station read from the card or the code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.acquiring import service as acquiring
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import Conflict, InvalidInput
from yikatong.ledger import service as ledger
from yikatong.transit import fares
from yikatong.transit.bank import BankAdapter, SandboxBank
from yikatong.transit.models import TopUp

__all__ = [
    "RideRecord",
    "authorise_ride",
    "policy_on",
    "quote",
    "ride_history",
    "top_up",
    "top_ups_of",
    "transport_balance",
    "upload_operator_rides",
    "upload_rides",
]

_LOCAL = dt.timezone(dt.timedelta(hours=8))
MAX_TOP_UP = 100_000  # fen: the transport purse is a small-value purse (小额钱包), ≤ 1000 yuan


def policy_on(on: dt.date, *, allow_illustrative: bool | None = None) -> fares.TransitPolicy:
    """The fare policy in force on a date for this node's city (illustrative values: demo only,
    unless ``allow_illustrative`` says otherwise)."""
    node = current_node.current()
    allow = node.settings.demo if allow_illustrative is None else allow_illustrative
    return fares.packaged_transit_policy(node.city_code, on, allow_illustrative=allow)


def _history(
    session: Session, card_nos: list[str], first_of_day: Mapping[dt.date, dt.datetime]
) -> dict[str, fares.RideHistory]:
    """The cards' rides as pricing the upload's days needs them (``first_of_day``: each day
    and its earliest tap). The day before is detailed too only where that day's first tap
    comes within the transfer window after midnight (a night bus): otherwise no ride of the day
    before can be the "previous ride" of a transfer, and its total is enough for the caps."""
    detailed = set(first_of_day)
    for day, first in first_of_day.items():
        window = dt.timedelta(minutes=policy_on(day).transfer.window_minutes)
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=_LOCAL)
        if first - window < midnight:
            detailed.add(day - dt.timedelta(days=1))
    found = acquiring.ride_history_of_cards(session, card_nos, days=detailed)
    days = frozenset(detailed)  # one set for every card's history
    return {card_no: _ride_history(known, days) for card_no, known in found.items()}


def _history_of_card(session: Session, card_no: str, day: dt.date) -> fares.RideHistory:
    """``_history`` of one card for one day (online authorisation), in one query."""
    detailed = _detailed({day})
    return _ride_history(acquiring.ride_history_of_card(session, card_no, days=detailed), detailed)


def _detailed(days: set[dt.date]) -> set[dt.date]:
    return days | {day - dt.timedelta(days=1) for day in days}


def _ride_history(known: acquiring.CardRides, detailed: Set[dt.date]) -> fares.RideHistory:
    return fares.RideHistory(
        [fares.PriorRide(r.mode, r.line, r.at, r.amount) for r in known.rides],
        detailed_days=detailed,
        day_totals=known.day_totals,
        in_time_order=True,  # read ordered by time
    )


def _ride_of(mode: str, at: dt.datetime, details: dict[str, Any]) -> fares.Ride:
    line = details.get("line")
    if not isinstance(line, str) or not line:
        raise InvalidInput("a ride names its line", field="line")
    if mode == "metro":
        return fares.Ride("metro", line, at, details.get("entry"), details.get("exit"))
    return fares.Ride("bus", line, at)


class _RidePricer:
    """Prices the rides of one request or upload. It remembers each card's rides — read once
    from the database, then every ride it priced — so that a batch priced in time order sees
    its own earlier rides (transfer discounts and caps) without reading them back. What is the
    same for many rides of an upload (the day's policy, a card's category that day, the fare of
    a line for a category before earlier rides count) is worked out once."""

    def __init__(self, kind: acquiring.MerchantKind) -> None:
        self._mode = kind.value
        self._rides: dict[str, fares.RideHistory] = {}
        self._categories: dict[tuple[str, dt.date], str] = {}
        self._policies: dict[dt.date, fares.TransitPolicy] = {}
        self._listed: dict[tuple[object, ...], fares.ListFare] = {}
        self.earliest: dict[str, dt.datetime] = {}  # each card's earliest ride priced

    def __call__(
        self,
        session: Session,
        terminal: acquiring.Terminal,
        identity: acquiring.CardIdentity,
        at: dt.datetime,
        details: dict[str, Any],
    ) -> acquiring.Priced:
        details.setdefault("line", terminal.line)
        details["mode"] = self._mode
        day = at.astimezone(_LOCAL).date()
        try:
            ride = _ride_of(self._mode, at, details)
            category = self._category(session, identity, day)
            history = self._rides.get(identity.card_no)
            if history is None:
                # Online: one card, one ride. An upload read all of its cards in ``prepare``.
                history = _history_of_card(session, identity.card_no, day)
                self._rides[identity.card_no] = history
            quoted = self.quote(ride, category, history, day)
        except InvalidInput as error:
            details["error"] = error.detail
            raise acquiring.decline("invalid-route") from None
        history.add(fares.PriorRide(self._mode, ride.line, at, quoted.fare), day)
        first = self.earliest.get(identity.card_no)
        if first is None or at < first:
            self.earliest[identity.card_no] = at
        return acquiring.Priced(quoted.fare, {"category": category, **quoted.as_details()})

    def prepare(
        self, session: Session, card_nos: list[str], first_of_day: Mapping[dt.date, dt.datetime]
    ) -> None:
        """Read the rides of every card of an upload at once (their holders' categories came
        with the cards: ``CardIdentity.holding``)."""
        if card_nos:
            self._rides.update(_history(session, card_nos, first_of_day))

    def quote(
        self, ride: fares.Ride, category: str, history: fares.RideHistory, day: dt.date
    ) -> fares.FareQuote:
        """``fares.quote_fare`` of a ride on the local ``day``, with what is the same for many
        rides (the day's policy, a line's fare for a category) worked out once."""
        policy = self._policies.get(day) or self._policies.setdefault(day, policy_on(day))
        key = (day, ride.line, ride.entry, ride.exit, category)
        listed = self._listed.get(key)
        if listed is None:
            listed = self._listed[key] = fares.list_fare(policy, ride, category)
        return fares.discount_and_cap(policy, ride, listed, history, day=day)

    def _category(self, session: Session, identity: acquiring.CardIdentity, day: dt.date) -> str:
        """The card category on ``day``: prepared for uploads, online from the card and holder
        read with the identity (or read now, for a code)."""
        key = (identity.card_no, day)
        if key not in self._categories:
            if identity.holding is not None:
                self._categories[key] = identity.holding.category(day).value
            else:
                card = cards_service.get_card(session, identity.card_no)
                self._categories[key] = cards_service.card_category(session, card, day).value
        return self._categories[key]


def _transit_merchant(session: Session, terminal: acquiring.Terminal) -> acquiring.Merchant:
    merchant = acquiring.merchant_of(session, terminal)
    if merchant.kind not in acquiring.TRANSIT_KINDS:
        raise Conflict(
            f"terminal {terminal.terminal_no} belongs to {merchant.kind} merchant "
            f"{merchant.code}; rides are taken at bus and metro terminals only"
        )
    return merchant


def authorise_ride(
    session: Session,
    terminal: acquiring.Terminal,
    *,
    terminal_seq: int,
    card_no: str | None = None,
    qr: str | None = None,
    line: str | None = None,
    entry: str | None = None,
    exit: str | None = None,
) -> acquiring.Tap:
    """Online authorisation of a ride (card tap or e-SSC L2 ride code), priced by the policy."""
    # Held for the whole request: ``authorise`` then finds the merchant in the session.
    merchant = _transit_merchant(session, terminal)
    kind = merchant.kind
    details: dict[str, Any] = {"line": line or terminal.line}
    if kind is acquiring.MerchantKind.METRO:
        details.update(entry=entry, exit=exit)
    return acquiring.authorise(
        session,
        terminal,
        terminal_seq=terminal_seq,
        card_no=card_no,
        qr=qr,
        details=details,
        price=_RidePricer(kind),
    )


def upload_rides(
    session: Session,
    terminal: acquiring.Terminal,
    taps: Sequence[acquiring.OfflineTap],
    *,
    return_taps: bool = True,
) -> acquiring.UploadResult:
    """Offline rides uploaded by a bus or a gate (脱机上传), priced in the order they happened;
    rides recorded before that cost less once these are known are refunded (补退)."""
    pricer = _RidePricer(_transit_merchant(session, terminal).kind)
    before = acquiring.last_tap_id(session)
    result = acquiring.ingest_offline(
        session, terminal, taps, price=pricer, return_taps=return_taps
    )
    adjusted = _refund_overcharges(session, pricer, [result.upload_id], recorded_up_to=before)
    return dataclasses.replace(result, fare_adjustments=adjusted[result.upload_id])


def upload_operator_rides(
    session: Session,
    merchant: acquiring.Merchant,
    uploads: Sequence[acquiring.TerminalUpload],
    *,
    return_taps: bool = False,
) -> list[acquiring.UploadResult]:
    """An operator's ride file (交易文件): every terminal's rides recorded as its upload, all
    priced together in time order, then the fare adjustments (补退) they call for."""
    pricer = _RidePricer(merchant.kind)
    before = acquiring.last_tap_id(session)
    results = acquiring.ingest_offline_file(
        session, merchant, uploads, price=pricer, return_taps=return_taps
    )
    fresh = [r.upload_id for r in results]
    adjusted = _refund_overcharges(session, pricer, fresh, recorded_up_to=before)
    return [dataclasses.replace(r, fare_adjustments=adjusted[r.upload_id]) for r in results]


def _refund_overcharges(
    session: Session, pricer: _RidePricer, upload_ids: Sequence[int], *, recorded_up_to: int
) -> Counter[int | None]:
    """Fare adjustments (补退) after offline uploads: each card whose uploaded rides came
    before rides recorded earlier has those later rides priced again in time order, and each
    that now costs less is refunded the difference, all at once (``acquiring.adjust_fares``).
    A later bus that uploaded first charged its ride without the transfer discount or the cap
    that the earlier ride gives it. A ride is never charged more after the fact: the rider
    keeps a fare that came out lower. ``recorded_up_to``: ``acquiring.last_tap_id`` before the
    uploads were taken in. Answers the number of adjustments per upload that caused them."""
    adjusted: Counter[int | None] = Counter()
    cuts: list[acquiring.FareCut] = []
    fresh = set(upload_ids)
    cards = acquiring.cards_with_later_rides(
        session, pricer.earliest, fresh, recorded_up_to=recorded_up_to
    )
    by_day: dict[dt.date, list[str]] = {}
    for card_no in cards:
        day = fares.local_day(pricer.earliest[card_no]) - dt.timedelta(days=1)
        by_day.setdefault(day, []).append(card_no)
    for day, group in sorted(by_day.items()):
        found = acquiring.rides_since(session, group, day)
        for card_no in group:
            first = pricer.earliest[card_no]
            cause = next(
                (r for r in found[card_no].rides if r.upload_id in fresh and r.at == first), None
            )
            cut = _reprice(pricer, found[card_no], day, first, cause, fresh)
            adjusted[cause.upload_id if cause is not None else None] += len(cut)
            cuts.extend(cut)
    acquiring.adjust_fares(session, cuts)
    return adjusted


def _reprice(
    pricer: _RidePricer,
    known: acquiring.CardRidesSince,
    day: dt.date,
    first: dt.datetime,
    cause: acquiring.RideToReprice | None,
    fresh: Collection[int],
) -> list[acquiring.FareCut]:
    """Price a card's rides from ``first`` on again in time order (its rides from ``day`` on in
    ``known``): the fares of those that now cost less. The uploads' own rides (``fresh``) up
    to the first ride recorded before them were priced from this very history: pricing starts
    again at that ride."""
    cuts: list[acquiring.FareCut] = []
    if not known.rides:
        return cuts
    again = False
    last = fares.local_day(known.rides[-1].at)
    detailed = {day + dt.timedelta(days=n) for n in range((last - day).days + 1)}
    history = fares.RideHistory(detailed_days=detailed, day_totals=known.day_totals)
    for ride in known.rides:
        on = fares.local_day(ride.at)
        fare = ride.fare_now
        again = again or (ride.at >= first and ride.upload_id not in fresh)
        if again and ride.category is not None:
            stations = {"line": ride.line, "entry": ride.entry, "exit": ride.exit}
            try:
                quoted = pricer.quote(
                    _ride_of(ride.mode, ride.at, stations), ride.category, history, on
                )
            except InvalidInput:
                quoted = None  # a route the policy no longer knows: left as it was charged
            if quoted is not None and quoted.fare < fare:
                cause_tap = cause.tap_id if cause is not None else None
                cuts.append(acquiring.FareCut(ride.tap_id, quoted.fare, quoted.steps, cause_tap))
                fare = quoted.fare
        history.add(fares.PriorRide(ride.mode, ride.line, ride.at, fare), on)
    return cuts


def quote(
    session: Session,
    *,
    mode: str,
    line: str,
    at: dt.datetime,
    entry: str | None = None,
    exit: str | None = None,
    category: str | None = None,
    card_no: str | None = None,
    allow_illustrative: bool | None = None,
) -> fares.FareQuote:
    """What a ride would cost: for a card (its category and its rides so far) or a category."""
    if mode not in ("bus", "metro"):
        raise InvalidInput("mode is bus or metro", field="mode")
    policy = policy_on(at.astimezone(_LOCAL).date(), allow_illustrative=allow_illustrative)
    ride = _ride_of(mode, at, {"line": line, "entry": entry, "exit": exit})
    history = fares.RideHistory()
    if card_no is not None:
        card = cards_service.get_card(session, card_no)
        day = at.astimezone(_LOCAL).date()
        category = cards_service.card_category(session, card, day).value
        history = _history_of_card(session, card.card_no, day)
    return fares.quote_fare(policy, ride, category or "ordinary", history)


@dataclass(frozen=True, slots=True)
class RideRecord:
    tap_id: int
    at: dt.datetime
    mode: str
    operator: str
    line: str | None
    entry: str | None
    exit: str | None
    full_fare: int
    fare: int  # what the ride costs now
    refunded: int  # given back by fare adjustments (补退)
    status: str
    reason: str
    card_no: str | None


def ride_history(session: Session, resident_id: int, *, limit: int = 100) -> list[RideRecord]:
    """A resident's rides (乘车记录), newest first, on all of their cards."""
    return [
        RideRecord(
            tap_id=tap.id,
            at=tap.tapped_at,
            mode=merchant.kind.value,
            operator=merchant.name,
            line=tap.details.get("line"),
            entry=tap.details.get("entry"),
            exit=tap.details.get("exit"),
            full_fare=int(tap.details.get("full_fare", tap.amount)),
            fare=tap.amount - tap.refunded,
            refunded=tap.refunded,
            status=tap.status.value,
            reason=tap.reason,
            card_no=tap.card_no,
        )
        for tap, merchant in acquiring.taps_of_resident(
            session, resident_id, kinds=acquiring.TRANSIT_KINDS, limit=limit
        )
    ]


def transport_balance(session: Session, card_no: str) -> int:
    card = cards_service.get_card(session, card_no)
    return int(ledger.balance(session, acquiring.card_account(session, card.card_no, "transport")))


def top_up(
    session: Session,
    *,
    card_no: str,
    amount: int,
    idempotency_key: str,
    bank: BankAdapter | None = None,
) -> TopUp:
    """Top up the transport purse from the card's financial account (圈存), then collect the
    card's ride debts from it. The same key answers the first top-up; never paid twice."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_TOP_UP:
        raise InvalidInput(f"a top-up is between 0.01 and {MAX_TOP_UP // 100} yuan", field="amount")
    if not 1 <= len(idempotency_key) <= 100:
        raise InvalidInput("an idempotency key is 1–100 characters", field="idempotency_key")
    card = cards_service.get_card(session, card_no)
    earlier = session.scalar(select(TopUp).where(TopUp.idempotency_key == idempotency_key))
    if earlier is not None:
        if (earlier.card_no, earlier.amount) != (card.card_no, amount):
            raise Conflict(
                f"idempotency key {idempotency_key!r} was used for another top-up",
                top_up_id=earlier.id,
            )
        return earlier
    if card.state != "active":
        raise Conflict(
            f"card {card.card_no} is {card.state}; only an active card can be topped up",
            card_state=str(card.state),
        )
    adapter = bank or SandboxBank()
    debit = adapter.debit(session, card_no=card.card_no, amount=amount, reference=idempotency_key)
    purse = acquiring.card_account(session, card.card_no, "transport")
    transfer = ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"topup:{idempotency_key}",
            debit_account_id=debit.clearing_account_id,
            credit_account_id=purse,
            amount=amount,
            metadata={"bank": adapter.name, "bank_reference": debit.reference},
        ),
    )
    collected = acquiring.collect_debts(session, card.card_no)
    record = TopUp(
        idempotency_key=idempotency_key,
        card_no=card.card_no,
        resident_id=card.resident_id,
        amount=amount,
        bank=adapter.name,
        bank_reference=debit.reference,
        bank_transfer_id=debit.transfer_id,
        transfer_id=transfer.id,
        debts_collected=len(collected),
        at=clock.now(),
    )
    session.add(record)
    session.flush()
    return record


def top_ups_of(session: Session, resident_id: int, *, limit: int = 100) -> list[TopUp]:
    """A resident's transport-purse top-ups (圈存记录), on all of their cards, newest first."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    query = (
        select(TopUp)
        .where(TopUp.resident_id == resident_id)
        .order_by(TopUp.at.desc(), TopUp.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
