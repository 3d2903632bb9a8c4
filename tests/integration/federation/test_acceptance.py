"""Cross-city card acceptance: a Yantai card or e-SSC code used at a Qingdao terminal.

Qingdao (``node``) accepts; Yantai (``yantai_node``, its own database) issued the card and answers
signed requests through its real FastAPI app. Both run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.federation.conftest import QINGDAO, YANTAI, League
from yikatong.cards import service as cards_service
from yikatong.core import clock
from yikatong.core.errors import InvalidInput, PolicyError
from yikatong.core.ids import make_resident_id
from yikatong.core.money import Fen
from yikatong.essc import service as essc_service
from yikatong.federation import acceptance, rpc
from yikatong.federation.catalogue import Catalogue, load_catalogue, publish_catalogue
from yikatong.federation.models import CrossCityAuthorisation
from yikatong.node import Node, set_current
from yikatong.registry import service as registry_service

CLERK = "clerk-federation-test"
PIN = "246810"
_order = itertools.count(1)
POLICY = acceptance.load_acceptance_policy(allow_illustrative=True)


@contextmanager
def acting_as(node: Node, back_to: Node) -> Iterator[None]:
    """Services reach their node through ``current()``: switch it while one city works."""
    set_current(node)
    try:
        yield
    finally:
        set_current(back_to)


class CityTransport(httpx.BaseTransport):
    """Requests to ``testserver`` are served by Yantai's app, with Yantai as the current node."""

    def __init__(self, client: TestClient, serving: Node, caller: Node) -> None:
        self.client, self.serving, self.caller = client, serving, caller

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with acting_as(self.serving, self.caller):
            return self.client._transport.handle_request(request)


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("no answer", request=request)


@dataclass(frozen=True)
class Holder:
    resident_id: int
    card_no: str
    card_ref: str


@pytest.fixture
def to_yantai(node: Node, yantai_node: Node, yantai_client: TestClient) -> Iterator[httpx.Client]:
    with httpx.Client(transport=CityTransport(yantai_client, yantai_node, node)) as client:
        yield client


@pytest.fixture
def yantai_holder(node: Node, yantai_node: Node, league: League) -> Holder:
    """A Yantai resident with an active card, an e-SSC account and a payment PIN."""
    n = next(_order)
    with acting_as(yantai_node, node):
        with yantai_node.transaction() as session:
            resident = registry_service.enrol_resident(
                session,
                registry_service.ResidentInput(
                    id_number=make_resident_id("370602", dt.date(1958, 3, 1), n % 999 + 1),
                    name="孙秀兰",
                    district_code="370602",
                ),
                actor=CLERK,
            )
            card = cards_service.apply_for_card(session, resident.id, actor=CLERK)
        with yantai_node.transaction() as session:
            cards_service.issue_card(session, card.card_no, actor=CLERK, reason="made")
            cards_service.activate_card(session, card.card_no, actor=CLERK, reason="received")
            account = essc_service.bind_account(session, resident.id, f"yt-{n}", actor=CLERK)
            essc_service.set_pin(session, account.id, PIN)
    return Holder(resident.id, card.card_no, card.card_ref)


def _qr(node: Node, yantai_node: Node, holder: Holder) -> str:
    with acting_as(yantai_node, node), yantai_node.transaction() as session:
        return essc_service.issue_qr(session, holder.resident_id, "L2", pin=PIN).text


def _report_lost(node: Node, yantai_node: Node, holder: Holder) -> None:
    with acting_as(yantai_node, node), yantai_node.transaction() as session:
        cards_service.report_lost(session, holder.card_no, actor=CLERK, reason="lost on the bus")


def _issuer_log(yantai_node: Node) -> list[tuple[str, str, str, int]]:
    with yantai_node.transaction() as session:
        rows = session.scalars(select(CrossCityAuthorisation).order_by(CrossCityAuthorisation.id))
        return [(r.acquirer_city, r.decision, r.mode, r.amount_fen) for r in rows]


def test_card_of_another_city_is_authorised_online_by_its_issuer(
    node: Node, yantai_node: Node, yantai_holder: Holder, to_yantai: httpx.Client
) -> None:
    catalogue = load_catalogue(allow_illustrative=True)
    catalogue = Catalogue.model_validate(
        {
            **catalogue.model_dump(),
            "publications": {
                QINGDAO: {
                    "name": "青岛",
                    "default_accepts": [YANTAI],
                    "scenarios": {"transport.bus": {"accepts": [YANTAI], "terms": {"x": 1}}},
                }
            },
        }
    )
    with node.transaction() as session:
        publish_catalogue(session, QINGDAO, frozenset({QINGDAO}), catalogue)
    decision = acceptance.authorise(
        node,
        issuer_city=YANTAI,
        instrument="card",
        card_ref=yantai_holder.card_ref,
        amount=Fen(200),
        scenario="transport.bus",
        policy=POLICY,
        client=to_yantai,
    )
    assert (decision.decision, decision.mode, decision.reason) == (
        "approved",
        "online",
        "card-active",
    )
    assert decision.request_id is not None
    assert decision.terms == {"x": 1}  # Qingdao's terms for the bus scenario
    # Recorded on both sides: the issuer knows Qingdao accepted its card for 2.00 yuan.
    assert _issuer_log(yantai_node) == [(QINGDAO, "approved", "issuer", 200)]

    _report_lost(node, yantai_node, yantai_holder)
    refused = acceptance.authorise(
        node,
        issuer_city=YANTAI,
        instrument="card",
        card_ref=yantai_holder.card_ref,
        amount=Fen(200),
        policy=POLICY,
        client=to_yantai,
    )
    assert (refused.decision, refused.mode, refused.reason) == (
        "declined",
        "online",
        "card-suspended",
    )


def test_essc_code_is_verified_and_used_up_by_its_issuer(
    node: Node, yantai_node: Node, yantai_holder: Holder, to_yantai: httpx.Client
) -> None:
    code = _qr(node, yantai_node, yantai_holder)
    ask = {
        "issuer_city": YANTAI,
        "instrument": "essc",
        "qr": code,
        "amount": Fen(1500),
        "policy": POLICY,
        "client": to_yantai,
    }
    first = acceptance.authorise(node, **ask)  # type: ignore[arg-type]
    assert (first.decision, first.reason, first.card_ref) == (
        "approved",
        "essc-L2",
        yantai_holder.card_ref,
    )
    again = acceptance.authorise(node, **ask)  # type: ignore[arg-type]
    assert (again.decision, again.reason) == ("declined", "replayed")


def test_stand_in_when_the_issuer_is_unreachable_follows_the_policy(
    node: Node, yantai_node: Node, yantai_holder: Holder, to_yantai: httpx.Client
) -> None:
    down = httpx.Client(transport=httpx.MockTransport(_down))
    ask = {
        "issuer_city": YANTAI,
        "instrument": "card",
        "card_ref": yantai_holder.card_ref,
        "policy": POLICY,
        "client": down,
    }
    # No copy of Yantai's deny list yet: nothing to stand in with.
    never = acceptance.authorise(node, amount=Fen(200), **ask)  # type: ignore[arg-type]
    assert (never.decision, never.mode) == ("declined", "stand-in")
    assert never.reason.startswith("deny-list-stale")

    synced = acceptance.sync_deny_list(node, YANTAI, timeout=2, client=to_yantai)
    assert synced.city_code == YANTAI
    small = acceptance.authorise(node, amount=Fen(200), **ask)  # type: ignore[arg-type]
    assert (small.decision, small.mode, small.reason) == ("approved", "stand-in", "deny-list")
    # The stand-in limit (50.00 yuan in the illustrative league policy) caps what is risked.
    assert POLICY.stand_in_limit == Fen(5000)
    big = acceptance.authorise(node, amount=Fen(5001), **ask)  # type: ignore[arg-type]
    assert big.decision == "declined"
    assert big.reason.startswith("stand-in-limit (city 370600 did not answer")
    # A timeout is the same as no answer.
    ask["client"] = httpx.Client(transport=httpx.MockTransport(_slow))
    timed_out = acceptance.authorise(node, amount=Fen(5000), **ask)  # type: ignore[arg-type]
    assert (timed_out.decision, timed_out.mode) == ("approved", "stand-in")

    _report_lost(node, yantai_node, yantai_holder)
    after = acceptance.sync_deny_list(node, YANTAI, timeout=2, client=to_yantai)
    assert after.fetched == 1 and after.last_seq > synced.last_seq
    ask["client"] = down
    lost = acceptance.authorise(node, amount=Fen(200), **ask)  # type: ignore[arg-type]
    assert (lost.decision, lost.mode) == ("declined", "stand-in")
    assert lost.reason.startswith("denied")

    strict = POLICY.model_copy(
        update={"stand_in": POLICY.stand_in.model_copy(update={"mode": "decline"})}
    )
    ask["policy"] = strict
    ask["card_ref"] = "someone-else"
    refused = acceptance.authorise(node, amount=Fen(1), **ask)  # type: ignore[arg-type]
    assert refused.reason.startswith("issuer-unreachable")


def test_offline_acceptance_of_an_essc_code_uses_the_issuers_deny_list(
    node: Node, yantai_node: Node, yantai_holder: Holder, to_yantai: httpx.Client
) -> None:
    code = _qr(node, yantai_node, yantai_holder)
    acceptance.sync_deny_list(node, YANTAI, timeout=2, client=to_yantai)
    ask = {"issuer_city": YANTAI, "instrument": "essc", "amount": Fen(300), "policy": POLICY}
    ok = acceptance.accept_offline(node, qr=code, **ask)  # type: ignore[arg-type]
    assert (ok.decision, ok.mode, ok.card_ref) == ("approved", "offline", yantai_holder.card_ref)
    # Single use holds offline too.
    again = acceptance.accept_offline(node, qr=code, **ask)  # type: ignore[arg-type]
    assert (again.decision, again.reason) == ("declined", "replayed")

    fresh = _qr(node, yantai_node, yantai_holder)
    _report_lost(node, yantai_node, yantai_holder)
    acceptance.sync_deny_list(node, YANTAI, timeout=2, client=to_yantai)
    denied = acceptance.accept_offline(node, qr=fresh, **ask)  # type: ignore[arg-type]
    assert (denied.decision, denied.reason) == ("declined", "denied")


def test_a_repeated_request_gets_the_same_answer_and_changes_nothing(
    node: Node, yantai_node: Node, yantai_holder: Holder, yantai_client: TestClient
) -> None:
    code = _qr(node, yantai_node, yantai_holder)
    request = rpc.seal(
        message_id="6f1c2d3e-4a5b-4c6d-8e7f-901234567890",
        sender=QINGDAO,
        receiver=YANTAI,
        stream="rpc",
        seq=1,
        payload_type="card.authorise",
        body={"instrument": "essc", "qr": code, "amount_fen": 100},
        key=node.signing_key(),
        created_at=clock.now(),
    )
    with acting_as(yantai_node, node):
        first = yantai_client.post("/api/v1/federation/rpc", json=request.to_wire())
        second = yantai_client.post("/api/v1/federation/rpc", json=request.to_wire())
        forged = rpc.seal(
            **{
                **{f: getattr(request, f) for f in ("message_id", "sender", "receiver")},
                "stream": "rpc",
                "seq": 1,
                "payload_type": "card.authorise",
                "body": {"instrument": "card", "card_ref": "x", "amount_fen": 1},
                "key": node.signing_key(),
                "created_at": clock.now(),
            }
        )
        third = yantai_client.post("/api/v1/federation/rpc", json=forged.to_wire())
        unknown = rpc.seal(
            message_id="7f1c2d3e-4a5b-4c6d-8e7f-901234567890",
            sender=QINGDAO,
            receiver=YANTAI,
            stream="rpc",
            seq=1,
            payload_type="pension.transfer",
            body={},
            key=node.signing_key(),
            created_at=clock.now(),
        )
        fourth = yantai_client.post("/api/v1/federation/rpc", json=unknown.to_wire())
    assert first.status_code == 200 and first.json()["body"]["decision"] == "approved"
    assert second.json() == first.json()  # not "replayed": the same answer, signed once
    assert third.status_code == 409 and third.json()["reason"] == "replayed"
    assert fourth.status_code == 422 and fourth.json()["reason"] == "unsupported"
    assert _issuer_log(yantai_node) == [(QINGDAO, "approved", "issuer", 100)]


def test_requests_are_refused_before_anything_is_sent(node: Node, league: League) -> None:
    with pytest.raises(InvalidInput) as own:
        acceptance.authorise(
            node, issuer_city=QINGDAO, instrument="card", card_ref="x", amount=Fen(1), policy=POLICY
        )
    assert own.value.field == "city"
    with pytest.raises(InvalidInput) as outsider:
        acceptance.authorise(
            node,
            issuer_city="110100",
            instrument="card",
            card_ref="x",
            amount=Fen(1),
            policy=POLICY,
        )
    assert outsider.value.field == "issuer_city"
    with pytest.raises(InvalidInput) as no_ref:
        acceptance.authorise(
            node, issuer_city=YANTAI, instrument="card", amount=Fen(1), policy=POLICY
        )
    assert no_ref.value.field == "card_ref"


def test_the_illustrative_league_policy_is_refused_outside_the_demo() -> None:
    with pytest.raises(PolicyError) as refused:
        acceptance.load_acceptance_policy()
    assert "stand_in.max_amount" in refused.value.detail


def test_fetching_every_deny_list_reports_a_silent_city_instead_of_failing(
    node: Node, yantai_node: Node, yantai_holder: Holder, to_yantai: httpx.Client
) -> None:
    # Outside the demo the illustrative policy is refused, city by city, without raising.
    refused = acceptance.sync_all_deny_lists(node)
    assert sorted(refused) == [YANTAI, "370700"]
    assert all(isinstance(o, str) and "illustrative" in o for o in refused.values())
    # The league's endpoints are http://testserver: nothing answers there over real HTTP.
    node.settings.demo = True
    silent = acceptance.sync_all_deny_lists(node)
    assert all(isinstance(o, str) and "did not answer" in o for o in silent.values()), silent
    assert POLICY.deny_list.sync_every_minutes == 5
    assert POLICY.deny_list.retry_after_failure_seconds == 30
