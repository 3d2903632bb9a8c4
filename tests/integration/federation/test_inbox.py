"""The inbox: authenticated, idempotent by message id, applied in order per (sender, stream)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import AuthHeaders
from yikatong.core import clock
from yikatong.federation import service
from yikatong.federation.envelope import Envelope, EnvelopeRejected
from yikatong.federation.models import InboxMessage, Note, Rejection
from yikatong.node import Node

from .conftest import WEIFANG, YANTAI, League, Sealer

pytestmark = pytest.mark.usefixtures("league")


def notes(node: Node) -> list[tuple[str, int, str]]:
    with node.transaction() as session:
        return [(n.sender, n.seq, n.text) for n in service.notes(session)]


def post(client: TestClient, envelope: Envelope) -> dict:
    response = client.post("/api/v1/federation/inbox", json=envelope.to_wire())
    assert response.status_code == 200, response.text
    return response.json()


def test_a_note_from_a_league_member_is_applied(
    client: TestClient, node: Node, from_yantai: Sealer
) -> None:
    receipt = post(client, from_yantai(1, text="胶东五市结算通知"))
    assert receipt["status"] == "applied"
    assert notes(node) == [(YANTAI, 1, "胶东五市结算通知")]


def test_a_message_ahead_of_a_gap_waits_until_the_gap_fills(
    client: TestClient, node: Node, from_yantai: Sealer
) -> None:
    assert post(client, from_yantai(2))["status"] == "queued"
    assert post(client, from_yantai(3))["status"] == "queued"
    assert notes(node) == []
    receipt = post(client, from_yantai(1))
    assert receipt == {"status": "applied", "message_id": receipt["message_id"], "applied": 3}
    assert [seq for _, seq, _ in notes(node)] == [1, 2, 3]


def test_streams_are_ordered_independently(
    client: TestClient, node: Node, from_yantai: Sealer
) -> None:
    post(client, from_yantai(2, stream="clearing"))
    assert post(client, from_yantai(1, stream="notes"))["status"] == "applied"
    assert notes(node) == [(YANTAI, 1, "note 1")]


def test_a_duplicate_is_acknowledged_and_applied_once(
    client: TestClient, node: Node, from_yantai: Sealer
) -> None:
    first = from_yantai(1)
    post(client, first)
    # The sender retries after a lost acknowledgement: re-signed later, same message id.
    clock_later = first.created_at + dt.timedelta(seconds=30)
    retry = from_yantai(1, message_id=first.message_id, created_at=clock_later)
    assert post(client, retry)["status"] == "duplicate"
    assert len(notes(node)) == 1
    with node.transaction() as session:
        reasons = session.scalars(select(Rejection.reason)).all()
    assert reasons == ["replayed"]


def test_a_reused_message_id_with_other_content_is_refused(
    client: TestClient, from_yantai: Sealer
) -> None:
    first = from_yantai(1)
    post(client, first)
    forged = from_yantai(1, message_id=first.message_id, text="something else")
    response = client.post("/api/v1/federation/inbox", json=forged.to_wire())
    assert response.status_code == 409
    assert response.json()["reason"] == "replayed"


def test_a_new_message_reusing_an_applied_sequence_number_is_refused(
    client: TestClient, from_yantai: Sealer
) -> None:
    post(client, from_yantai(1))
    response = client.post("/api/v1/federation/inbox", json=from_yantai(1).to_wire())
    assert response.status_code == 409
    assert response.json()["reason"] == "sequence-conflict"


def test_a_tampered_envelope_is_refused_logged_and_changes_nothing(
    client: TestClient, node: Node, from_yantai: Sealer
) -> None:
    wire = from_yantai(1).to_wire()
    wire["body"]["text"] = "tampered"
    response = client.post("/api/v1/federation/inbox", json=wire)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "tampered"
    with node.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 0
        logged = session.scalars(select(Rejection)).one()
    assert (logged.reason, logged.sender, logged.message_id) == (
        "tampered",
        YANTAI,
        wire["message_id"],
    )
    assert notes(node) == []


def test_an_envelope_from_beyond_the_clock_skew_is_refused(
    client: TestClient, from_yantai: Sealer
) -> None:
    ahead = from_yantai(1, created_at=clock.now() + dt.timedelta(minutes=10))
    response = client.post("/api/v1/federation/inbox", json=ahead.to_wire())
    assert (response.status_code, response.json()["reason"]) == (422, "clock-skew")


def test_a_body_that_is_not_an_object_is_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/api/v1/federation/inbox", json=[1, 2])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_hello_records_the_peer_name_and_key(
    client: TestClient, node: Node, yantai_node: Node, from_yantai: Sealer
) -> None:
    hello = from_yantai(
        1, stream="control", payload_type="node.hello", body={"name": "烟台", "version": "0.1.0"}
    )
    post(client, hello)
    with node.transaction() as session:
        peer = service.status(session).peers[0]
    assert (peer.city_code, peer.name, peer.key_id) == (
        YANTAI,
        "烟台",
        yantai_node.signing_key().key_id,
    )
    assert peer.hello_at is not None


# --- Poison messages ------------------------------------------------------------------------


class Flaky:
    """A handler that fails until told to work: stands in for a domain bug fixed later."""

    def __init__(self) -> None:
        self.broken = True

    def __call__(self, session, envelope: Envelope) -> None:
        if self.broken:
            raise RuntimeError("clearing batch references unknown card 12345678X")
        session.add(
            Note(
                sender=envelope.sender,
                stream=envelope.stream,
                seq=envelope.seq,
                message_id=envelope.message_id,
                text="flaky applied",
                received_at=clock.now(),
            )
        )


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    handler = Flaky()
    service._handlers["test.flaky"] = handler
    yield handler
    del service._handlers["test.flaky"]


def test_a_failing_handler_dead_letters_and_blocks_its_stream(
    client: TestClient, node: Node, from_yantai: Sealer, flaky: Flaky
) -> None:
    assert (
        post(client, from_yantai(1, payload_type="test.flaky", body={}))["status"]
        == "dead-lettered"
    )
    assert post(client, from_yantai(2))["status"] == "queued"
    assert notes(node) == []
    with node.transaction() as session:
        state = service.status(session)
        (letter,) = service.dead_letters(session)
    assert state.open_dead_letters == 1
    assert state.inbound[0].blocked_by_seq == 1 and state.inbound[0].waiting == 1
    assert "unknown card" in letter.error


def test_replaying_a_fixed_dead_letter_resumes_the_stream_in_order(
    client: TestClient, node: Node, from_yantai: Sealer, flaky: Flaky, auth: AuthHeaders
) -> None:
    post(client, from_yantai(1, payload_type="test.flaky", body={}))
    post(client, from_yantai(2))
    letter_id = client.get("/api/v1/federation/dead-letters", headers=auth("admin")).json()[0]["id"]
    again = client.post(
        f"/api/v1/federation/dead-letters/{letter_id}/replay", headers=auth("admin")
    )
    assert again.json()["status"] == "open" and again.json()["attempts"] == 2
    flaky.broken = False
    fixed = client.post(
        f"/api/v1/federation/dead-letters/{letter_id}/replay", headers=auth("admin")
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "replayed"
    assert notes(node) == [(YANTAI, 1, "flaky applied"), (YANTAI, 2, "note 2")]


def test_discarding_a_dead_letter_lets_the_stream_continue(
    client: TestClient, node: Node, from_yantai: Sealer, flaky: Flaky, auth: AuthHeaders
) -> None:
    post(client, from_yantai(1, payload_type="test.flaky", body={}))
    post(client, from_yantai(2))
    letter_id = client.get("/api/v1/federation/dead-letters", headers=auth("admin")).json()[0]["id"]
    response = client.post(
        f"/api/v1/federation/dead-letters/{letter_id}/discard",
        json={"reason": "Yantai re-sent the batch as seq 3"},
        headers=auth("admin"),
    )
    assert response.json()["status"] == "discarded"
    assert notes(node) == [(YANTAI, 2, "note 2")]


def test_an_unknown_payload_type_is_dead_lettered_not_lost(
    client: TestClient, node: Node, from_yantai: Sealer
) -> None:
    assert (
        post(client, from_yantai(1, payload_type="clearing.v9", body={}))["status"]
        == "dead-lettered"
    )
    with node.transaction() as session:
        (letter,) = service.dead_letters(session)
    assert "no handler" in letter.error


def test_dead_letters_are_for_admins_only(client: TestClient, auth: AuthHeaders) -> None:
    assert client.get("/api/v1/federation/dead-letters").status_code == 401
    assert client.get("/api/v1/federation/dead-letters", headers=auth("clerk")).status_code == 403


def test_discard_without_a_reason_is_refused_naming_the_field(
    client: TestClient, from_yantai: Sealer, flaky: Flaky, auth: AuthHeaders
) -> None:
    post(client, from_yantai(1, payload_type="test.flaky", body={}))
    response = client.post(
        "/api/v1/federation/dead-letters/1/discard", json={"reason": ""}, headers=auth("admin")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"


def test_a_member_not_in_this_node_league_is_refused_as_unknown_key(
    node: Node, league: League
) -> None:
    # Weifang is a member, but signs with a key the league does not list.
    from yikatong.crypto.keyring import SigningKey
    from yikatong.federation.envelope import seal

    rogue = SigningKey.generate(WEIFANG, "Ed25519", clock.now())
    envelope = seal(
        message_id="5f0c2b1e-9d8a-4c3b-a2e1-0f9e8d7c6b5a",
        sender=WEIFANG,
        receiver=node.city_code,
        stream="notes",
        seq=1,
        payload_type="note",
        body={"text": "x"},
        key=rogue,
        created_at=clock.now(),
    )
    with pytest.raises(EnvelopeRejected) as caught:
        service.accept_envelope(node, envelope.to_wire())
    assert caught.value.reason == "unknown-key"
