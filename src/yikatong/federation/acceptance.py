"""Cross-city card acceptance (异地用卡): a card or e-SSC code of city A used at a terminal in B.

* **Online** — B asks A (:mod:`rpc`, a signed request ``card.authorise``). A checks the card's
  state (``cards.service``) or verifies and uses up the code (``essc.service.verify_online``) and
  signs its answer. Both cities record the decision.
* **Stand-in** (代授权) — A does not answer within the policy's timeout: B decides by the policy's
  stand-in rule (decline, or accept up to a limit when the card is not on A's deny list as last
  fetched and that copy is fresh enough).
* **Offline** — a terminal with no connection to A accepts from A's deny list only.

B keeps A's deny list by fetching its deltas (``denylist.fetch``, answered from
``cards.service.deny_list_since``) with :func:`sync_deny_list`. An approved payment is recorded
for inter-city clearing (:mod:`clearing`) in the same transaction as the decision.
Numbers (timeout, stand-in limit, deny-list age) come from ``policies/federation/acceptance.yaml``.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import DomainError, InvalidInput, NotFound
from yikatong.core.money import Fen, parse_yuan
from yikatong.core.policy import load_policy_file, packaged_policy_path
from yikatong.essc import service as essc_service
from yikatong.federation.catalogue import check_scenario
from yikatong.federation.clearing import record_acquired_payment
from yikatong.federation.envelope import Envelope
from yikatong.federation.league import League
from yikatong.federation.models import CrossCityAuthorisation, RemoteDenyCursor, RemoteDenyEntry
from yikatong.federation.rpc import PeerUnreachable, RemoteRefused, call, register_responder
from yikatong.federation.service import league_of
from yikatong.node import Node

Instrument = Literal["card", "essc"]
DENY_LIST_PAGE = 1000

# --- Policy ----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Authorisation(_Model):
    timeout_ms: int = Field(ge=50, le=30_000)


class _StandIn(_Model):
    mode: Literal["decline", "deny-list"]
    max_amount: str = Field(pattern=r"^\d+(\.\d{1,2})?$")
    max_deny_list_age_minutes: int = Field(ge=1)


class _Offline(_Model):
    max_deny_list_age_minutes: int = Field(ge=1)


class _DenyList(_Model):
    sync_every_minutes: int = Field(ge=1, le=1440)
    retry_after_failure_seconds: int = Field(ge=1, le=3600)


class AcceptancePolicy(_Model):
    league: str
    sources: list[str] = Field(default_factory=list)
    authorisation: _Authorisation
    stand_in: _StandIn
    offline: _Offline
    deny_list: _DenyList

    @property
    def timeout(self) -> float:
        return self.authorisation.timeout_ms / 1000

    @property
    def stand_in_limit(self) -> Fen:
        return parse_yuan(self.stand_in.max_amount, field="stand_in.max_amount")


def load_acceptance_policy(
    path: Path | None = None, *, allow_illustrative: bool = False
) -> AcceptancePolicy:
    """The acceptance policy (default: the packaged league file, illustrative in the demo only)."""
    return load_policy_file(
        path or packaged_policy_path("federation", "acceptance.yaml"),
        AcceptancePolicy,
        allow_illustrative=allow_illustrative,
    )


def acceptance_policy(node: Node) -> AcceptancePolicy:
    """The packaged policy, read once per process and again when the file changes."""
    path = packaged_policy_path("federation", "acceptance.yaml")
    return _cached_policy(path, path.stat().st_mtime_ns, node.settings.demo)


@functools.lru_cache(maxsize=8)
def _cached_policy(path: Path, _mtime: int, allow_illustrative: bool) -> AcceptancePolicy:
    return load_acceptance_policy(path, allow_illustrative=allow_illustrative)


# --- Results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the accepting terminal is told: approved or declined, how, and why."""

    id: int
    decision: str
    mode: str
    reason: str
    issuer_city: str
    card_ref: str | None
    amount: Fen
    request_id: str | None
    # The accepting city's terms for the scenario (catalogue), e.g. a fare rule for elderly.
    terms: dict[str, Any] = field(default_factory=dict)

    @property
    def approved(self) -> bool:
        return self.decision == "approved"


@dataclass(frozen=True)
class DenyListSync:
    city_code: str
    fetched: int
    last_seq: int


def _check_request(
    node: Node,
    league: League,
    issuer_city: str,
    instrument: str,
    card_ref: str | None,
    qr: str | None,
    amount: int,
) -> None:
    if issuer_city == node.city_code:
        raise InvalidInput(
            "the card is this city's own; accept it with the card or e-SSC service", field="city"
        )
    if issuer_city not in league.cities:
        raise InvalidInput(
            f"city {issuer_city} is not in the league {league.name}; its cards are not accepted",
            field="issuer_city",
        )
    if instrument == "card" and not card_ref:
        raise InvalidInput("a card needs the card_ref read from its chip", field="card_ref")
    if instrument == "essc" and not qr:
        raise InvalidInput("an e-SSC payment needs the scanned code", field="qr")
    if instrument not in ("card", "essc"):
        raise InvalidInput("instrument must be card or essc", field="instrument")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidInput("amount must be zero or more fen", field="amount")


def _record(
    session: Session,
    *,
    issuer_city: str,
    acquirer_city: str,
    instrument: str,
    card_ref: str | None,
    amount: int,
    scenario: str | None,
    decision: str,
    mode: str,
    reason: str,
    request_id: str | None,
) -> Decision:
    row = CrossCityAuthorisation(
        at=clock.now(),
        issuer_city=issuer_city,
        acquirer_city=acquirer_city,
        instrument=instrument,
        card_ref=card_ref,
        amount_fen=amount,
        scenario=scenario,
        decision=decision,
        mode=mode,
        reason=reason[:200],
        request_id=request_id,
    )
    session.add(row)
    session.flush()
    if decision == "approved" and mode != "issuer" and amount > 0:
        # The payment is taken: on this city's ledger now, on the issuer's through its inbox.
        record_acquired_payment(
            session,
            own_city=acquirer_city,
            issuer_city=issuer_city,
            payment_ref=f"{acquirer_city}-{row.id}",
            amount=amount,
            card_ref=card_ref,
            scenario=scenario,
        )
    return Decision(
        row.id, decision, mode, row.reason, issuer_city, card_ref, Fen(amount), request_id
    )


# --- Accepting city (B) --------------------------------------------------------------------------


def authorise(
    node: Node,
    *,
    issuer_city: str,
    instrument: Instrument,
    amount: Fen,
    card_ref: str | None = None,
    qr: str | None = None,
    scenario: str | None = None,
    policy: AcceptancePolicy | None = None,
    client: httpx.Client | None = None,
) -> Decision:
    """Authorise a payment with a card of ``issuer_city``: online, or by the stand-in rule.

    With a ``scenario`` the catalogue of this city is checked first (declined with mode
    ``catalogue`` if it does not accept cards of ``issuer_city`` there).

    Opens its own transactions; never call it inside one (it waits on the other city).
    """
    policy = policy or acceptance_policy(node)
    league = league_of(node)
    _check_request(node, league, issuer_city, instrument, card_ref, qr, amount)
    body: dict[str, Any] = {"instrument": instrument, "amount_fen": int(amount)}
    if instrument == "card":
        body["card_ref"] = card_ref
    else:
        body["qr"] = qr
    if scenario:
        body["scenario"] = scenario

    def record(
        session: Session,
        *,
        card_ref: str | None,
        decision: str,
        mode: str,
        reason: str,
        request_id: str | None,
    ) -> Decision:
        made = _record(
            session,
            issuer_city=issuer_city,
            acquirer_city=node.city_code,
            instrument=instrument,
            card_ref=card_ref,
            amount=int(amount),
            scenario=scenario,
            decision=decision,
            mode=mode,
            reason=reason,
            request_id=request_id,
        )
        return replace(made, terms=terms) if made.approved else made

    terms: dict[str, Any] = {}
    if scenario:
        with node.transaction() as session:
            verdict = check_scenario(
                session, city_code=node.city_code, scenario=scenario, card_city=issuer_city
            )
            if not verdict.accepted:
                return record(
                    session,
                    card_ref=card_ref,
                    decision="declined",
                    mode="catalogue",
                    reason=verdict.reason,
                    request_id=None,
                )
            terms = verdict.terms
    try:
        answer = call(
            node, issuer_city, "card.authorise", body, timeout=policy.timeout, client=client
        )
    except PeerUnreachable as exc:
        with node.transaction() as session:
            if policy.stand_in.mode == "deny-list" and amount > policy.stand_in_limit:
                decision, reason, ref = "declined", "stand-in-limit", card_ref
            else:
                decision, reason, ref = _stand_in(
                    session, league, policy, issuer_city, card_ref, qr
                )
            return record(
                session,
                card_ref=ref,
                decision=decision,
                mode="stand-in",
                reason=f"{reason} ({exc.detail})" if decision == "declined" else reason,
                request_id=None,
            )
    except RemoteRefused as exc:
        with node.transaction() as session:
            return record(
                session,
                card_ref=card_ref,
                decision="declined",
                mode="online",
                reason=f"issuer-refused: {exc.detail}",
                request_id=None,
            )
    with node.transaction() as session:
        return record(
            session,
            card_ref=str(answer.get("card_ref") or card_ref or "") or None,
            decision="approved" if answer.get("decision") == "approved" else "declined",
            mode="online",
            reason=str(answer.get("reason", "")),
            request_id=str(answer["request_id"]),
        )


def _stand_in(
    session: Session,
    league: League,
    policy: AcceptancePolicy,
    issuer_city: str,
    card_ref: str | None,
    qr: str | None,
) -> tuple[str, str, str | None]:
    if policy.stand_in.mode == "decline":
        return "declined", "issuer-unreachable", card_ref
    return _deny_list_check(
        session,
        league,
        issuer_city,
        card_ref,
        qr,
        max_age=dt.timedelta(minutes=policy.stand_in.max_deny_list_age_minutes),
    )


def accept_offline(
    node: Node,
    *,
    issuer_city: str,
    instrument: Instrument,
    amount: Fen,
    card_ref: str | None = None,
    qr: str | None = None,
    scenario: str | None = None,
    policy: AcceptancePolicy | None = None,
) -> Decision:
    """Accept a card of ``issuer_city`` without asking it: from its deny list as last fetched."""
    policy = policy or acceptance_policy(node)
    league = league_of(node)
    _check_request(node, league, issuer_city, instrument, card_ref, qr, amount)
    with node.transaction() as session:
        terms: dict[str, Any] = {}
        if scenario:
            verdict = check_scenario(
                session, city_code=node.city_code, scenario=scenario, card_city=issuer_city
            )
            if not verdict.accepted:
                return _record(
                    session,
                    issuer_city=issuer_city,
                    acquirer_city=node.city_code,
                    instrument=instrument,
                    card_ref=card_ref,
                    amount=int(amount),
                    scenario=scenario,
                    decision="declined",
                    mode="catalogue",
                    reason=verdict.reason,
                    request_id=None,
                )
            terms = verdict.terms
        decision, reason, ref = _deny_list_check(
            session,
            league,
            issuer_city,
            card_ref,
            qr,
            max_age=dt.timedelta(minutes=policy.offline.max_deny_list_age_minutes),
        )
        made = _record(
            session,
            issuer_city=issuer_city,
            acquirer_city=node.city_code,
            instrument=instrument,
            card_ref=ref,
            amount=int(amount),
            scenario=scenario,
            decision=decision,
            mode="offline",
            reason=reason,
            request_id=None,
        )
        return replace(made, terms=terms) if made.approved else made


def _deny_list_check(
    session: Session,
    league: League,
    issuer_city: str,
    card_ref: str | None,
    qr: str | None,
    *,
    max_age: dt.timedelta,
) -> tuple[str, str, str | None]:
    cursor = session.get(RemoteDenyCursor, issuer_city)
    if cursor is None or cursor.synced_at < clock.now() - max_age:
        when = cursor.synced_at.isoformat(timespec="seconds") if cursor else "never"
        return "declined", f"deny-list-stale (last fetched {when})", card_ref
    denied = remote_denied_refs(session, issuer_city)
    if qr is not None:
        try:
            # A code of another city: signature by its league key, expiry, deny list, single use
            # here (the issuer's own state is what the deny list says).
            verdict = essc_service.verify_online(
                session,
                qr,
                accept_cities={issuer_city},
                trust_list=league.trust,
                denied_refs=denied,
            )
        except DomainError as exc:
            return "declined", str(getattr(exc, "reason", exc.slug)), card_ref
        return "approved", "deny-list", verdict.claims.card_ref
    if card_ref in denied:
        return "declined", "denied", card_ref
    return "approved", "deny-list", card_ref


def remote_denied_refs(session: Session, city_code: str) -> set[str]:
    """card_refs of ``city_code`` on its deny list, as last fetched."""
    return set(
        session.scalars(
            select(RemoteDenyEntry.card_ref).where(
                RemoteDenyEntry.city_code == city_code, RemoteDenyEntry.denied.is_(True)
            )
        )
    )


def sync_deny_list(
    node: Node,
    issuer_city: str,
    *,
    timeout: float | None = None,
    client: httpx.Client | None = None,
) -> DenyListSync:
    """Fetch the deny-list changes of ``issuer_city`` since the last fetch and apply them."""
    league = league_of(node)
    if issuer_city not in league.cities or issuer_city == node.city_code:
        raise InvalidInput(
            f"city {issuer_city} is not another member of the league {league.name}", field="city"
        )
    if timeout is None:
        timeout = acceptance_policy(node).timeout
    fetched = 0
    while True:
        with node.transaction() as session:
            cursor = session.get(RemoteDenyCursor, issuer_city)
            since = cursor.last_seq if cursor else 0
        page = call(
            node,
            issuer_city,
            "denylist.fetch",
            {"since": since, "limit": DENY_LIST_PAGE},
            timeout=timeout,
            client=client,
        )
        entries = page.get("entries")
        if not isinstance(entries, list):
            raise InvalidInput(f"city {issuer_city} sent a deny-list page without entries")
        with node.transaction() as session:
            last = _apply_deny_page(session, issuer_city, since, entries)
        fetched += len(entries)
        if not entries or last >= int(page.get("head", 0)):
            return DenyListSync(issuer_city, fetched, last)


def _apply_deny_page(
    session: Session, city_code: str, since: int, entries: list[dict[str, Any]]
) -> int:
    cursor = session.get(RemoteDenyCursor, city_code, with_for_update=True)
    if cursor is None:
        cursor = RemoteDenyCursor(city_code=city_code, last_seq=0, synced_at=clock.now())
        session.add(cursor)
    if cursor.last_seq != since:
        # Another fetch applied this page meanwhile: nothing to do, the next loop reads on.
        return cursor.last_seq
    for entry in entries:
        seq, ref, action = int(entry["seq"]), str(entry["card_ref"]), str(entry["action"])
        if seq <= cursor.last_seq:
            continue
        row = session.scalars(
            select(RemoteDenyEntry).where(
                RemoteDenyEntry.city_code == city_code, RemoteDenyEntry.card_ref == ref
            )
        ).one_or_none()
        if row is None:
            row = RemoteDenyEntry(city_code=city_code, card_ref=ref, denied=False, seq=seq)
            session.add(row)
        row.denied = action == "add"
        row.seq = seq
        row.reason = str(entry.get("reason", ""))[:200]
        cursor.last_seq = seq
    cursor.synced_at = clock.now()
    session.flush()
    return cursor.last_seq


def sync_all_deny_lists(node: Node) -> dict[str, DenyListSync | str]:
    """Fetch every other member's deny-list changes; a city that fails is reported, not raised."""
    outcome: dict[str, DenyListSync | str] = {}
    for city in sorted(league_of(node).cities - {node.city_code}):
        try:
            outcome[city] = sync_deny_list(node, city)
        except DomainError as exc:
            outcome[city] = exc.detail
    return outcome


def deny_list_status(session: Session) -> list[RemoteDenyCursor]:
    return list(session.scalars(select(RemoteDenyCursor).order_by(RemoteDenyCursor.city_code)))


# --- Issuing city (A): the responders --------------------------------------------------------


def _authorise_here(session: Session, envelope: Envelope) -> dict[str, Any]:
    body = envelope.body
    instrument = body.get("instrument")
    amount = body.get("amount_fen")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidInput("amount_fen must be zero or more fen", field="amount_fen")
    scenario = body.get("scenario") if isinstance(body.get("scenario"), str) else None
    card_ref: str | None = None
    if instrument == "card":
        card_ref = body.get("card_ref")
        if not isinstance(card_ref, str) or not card_ref:
            raise InvalidInput("card_ref is missing", field="card_ref")
        try:
            card = cards_service.get_card_by_ref(session, card_ref)
        except NotFound:
            decision, reason = "declined", "unknown-card"
        else:
            state = str(card.state)
            decision, reason = (
                ("approved", "card-active") if state == "active" else ("declined", f"card-{state}")
            )
    elif instrument == "essc":
        qr = body.get("qr")
        if not isinstance(qr, str) or not qr:
            raise InvalidInput("qr is missing", field="qr")
        own = envelope.receiver
        try:
            with session.begin_nested():
                verdict = essc_service.verify_online(session, qr, accept_cities={own})
        except DomainError as exc:
            decision, reason = "declined", str(getattr(exc, "reason", exc.slug))
        else:
            card_ref = verdict.claims.card_ref
            decision, reason = "approved", f"essc-{verdict.claims.level}"
    else:
        raise InvalidInput("instrument must be card or essc", field="instrument")
    _record(
        session,
        issuer_city=envelope.receiver,
        acquirer_city=envelope.sender,
        instrument=str(instrument),
        card_ref=card_ref,
        amount=amount,
        scenario=scenario,
        decision=decision,
        mode="issuer",
        reason=reason,
        request_id=envelope.message_id,
    )
    return {"decision": decision, "reason": reason, "card_ref": card_ref}


def _deny_list_page(session: Session, envelope: Envelope) -> dict[str, Any]:
    since, limit = envelope.body.get("since"), envelope.body.get("limit", DENY_LIST_PAGE)
    if isinstance(since, bool) or not isinstance(since, int):
        raise InvalidInput("since must be an integer", field="since")
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInput("limit must be an integer", field="limit")
    head = cards_service.deny_list_head(session)
    entries = cards_service.deny_list_since(session, since, min(limit, DENY_LIST_PAGE))
    return {
        "head": head,
        "entries": [
            {"seq": e.seq, "card_ref": e.card_ref, "action": e.action, "reason": e.reason}
            for e in entries
        ],
    }


def authorisations(
    session: Session, *, issuer_city: str | None = None, limit: int = 100
) -> list[CrossCityAuthorisation]:
    query = select(CrossCityAuthorisation).order_by(CrossCityAuthorisation.id.desc()).limit(limit)
    if issuer_city:
        query = query.where(CrossCityAuthorisation.issuer_city == issuer_city)
    return list(session.scalars(query))


register_responder("card.authorise", _authorise_here)
register_responder("denylist.fetch", _deny_list_page)
