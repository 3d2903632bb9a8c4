"""Results signed by someone else: the identity provider's face check (verified against the key
registered on this node) and another league city's certification (verified against that city's
key in the league file), accepted when the signature is right and refused otherwise."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AuthHeaders
from tests.integration.certification.conftest import World, at
from yikatong.benefits import service as benefits
from yikatong.benefits.models import BeneficiaryStatus
from yikatong.certification import service
from yikatong.core import clock
from yikatong.core.errors import Forbidden
from yikatong.crypto.keyring import SigningKey
from yikatong.federation import league as lg
from yikatong.federation.envelope import seal
from yikatong.node import Node
from yikatong.registry import service as registry

QINGDAO, WEIFANG, YANTAI = "370200", "370700", "370600"


def _person_ref(world: World, resident_id: int) -> str:
    with world.node.transaction() as session:
        return registry.get_resident(session, resident_id).person_ref


# --------------------------------------------------------------------------- face checks


@pytest.fixture
def provider(world: World, client: TestClient, auth: AuthHeaders) -> SigningKey:
    key = SigningKey.generate("idp", "SM2", clock.now())
    registered = client.post(
        "/api/v1/certification/identity-providers",
        json={
            "code": "ykt-face",
            "name": "电子社保卡人脸识别",
            "algorithm": "SM2",
            "public_key": key.public_key.hex(),
        },
        headers=auth("admin"),
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["key_id"] == key.key_id
    return key


def _face_check(person_ref: str, **over: Any) -> dict[str, Any]:
    result = {
        "check_id": f"FC-{uuid.uuid4().hex[:12]}",
        "person_ref": person_ref,
        "outcome": "pass",
        "checked_at": clock.now().isoformat(),
        "liveness": True,
    }
    result.update(over)
    return result


def _signed(key: SigningKey, result: dict[str, Any]) -> str:
    return service.sign_face_check(result, key.private_key, key.public_key, key.algorithm)


def test_a_face_check_signed_by_the_registered_provider_certifies(
    world: World, client: TestClient, provider: SigningKey, fixed_clock: clock.FixedClock
) -> None:
    retiree = world.retiree("钱一", since=dt.date(2024, 1, 1))
    with world.node.transaction() as session:
        service.run_certification(
            session, as_of=dt.date(2025, 3, 10), actor="t", allow_illustrative=True
        )
    result = _face_check(_person_ref(world, retiree))
    answer = client.post(
        "/api/v1/certification/face-checks",
        json={"provider": "ykt-face", "result": result, "signature": _signed(provider, result)},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["certified"], body["resident_id"], body["valid_until"]) == (
        True,
        retiree,
        "2026-03-10",
    )
    with world.node.transaction() as session:
        state = service.state_of(session, retiree)
        assert (state.last_channel, state.suspended) == ("app_face", False)
        assert (
            benefits.get_beneficiary(session, world.programme_id, retiree).status
            is BeneficiaryStatus.ACTIVE
        )
    # The provider retries its callback: accepted, nothing added.
    again = client.post(
        "/api/v1/certification/face-checks",
        json={"provider": "ykt-face", "result": result, "signature": _signed(provider, result)},
    )
    assert again.status_code == 200
    with world.node.transaction() as session:
        assert len(service.evidence_of(session, retiree)) == 1


def test_a_tampered_or_foreign_face_check_is_refused(
    world: World, client: TestClient, provider: SigningKey
) -> None:
    retiree = world.retiree("孙二")
    result = _face_check(_person_ref(world, retiree), outcome="fail")
    signature = _signed(provider, result)
    tampered = {**result, "outcome": "pass"}
    refused = client.post(
        "/api/v1/certification/face-checks",
        json={"provider": "ykt-face", "result": tampered, "signature": signature},
    )
    assert refused.status_code == 403
    assert "does not verify" in refused.json()["detail"]
    impostor = SigningKey.generate("idp", "Ed25519", clock.now())
    forged = _face_check(_person_ref(world, retiree))
    assert (
        client.post(
            "/api/v1/certification/face-checks",
            json={"provider": "ykt-face", "result": forged, "signature": _signed(impostor, forged)},
        ).status_code
        == 403
    )
    unknown = client.post(
        "/api/v1/certification/face-checks",
        json={"provider": "other-idp", "result": forged, "signature": _signed(impostor, forged)},
    )
    assert unknown.status_code == 403
    # A failed check, honestly signed, is accepted and certifies nobody.
    failed = client.post(
        "/api/v1/certification/face-checks",
        json={"provider": "ykt-face", "result": result, "signature": signature},
    )
    assert failed.status_code == 200 and failed.json()["certified"] is False
    # A stale check is refused even when signed.
    old = _face_check(
        _person_ref(world, retiree), checked_at=(clock.now() - dt.timedelta(days=8)).isoformat()
    )
    stale = client.post(
        "/api/v1/certification/face-checks",
        json={"provider": "ykt-face", "result": old, "signature": _signed(provider, old)},
    )
    assert stale.status_code == 422
    with world.node.transaction() as session:
        assert service.evidence_of(session, retiree) == []


# --------------------------------------------------------------------------- other cities


@pytest.fixture
def weifang(node: Node, tmp_path: Path) -> SigningKey:
    """A league of Qingdao (this node), Yantai and Weifang; the test holds both others' keys."""
    operator = SigningKey.generate("league", "SM2", clock.now())
    weifang_key = SigningKey.generate(WEIFANG, "Ed25519", clock.now())
    yantai_key = SigningKey.generate(YANTAI, "SM2", clock.now())
    document = lg.new_document("胶东经济圈", operator)
    for city, name, key in (
        (QINGDAO, "青岛", node.signing_key()),
        (YANTAI, "烟台", yantai_key),
        (WEIFANG, "潍坊", weifang_key),
    ):
        document = lg.with_member(
            document, city_code=city, name=name, endpoint="http://testserver", key=key.verify_key()
        )
    path = tmp_path / "league.json"
    path.write_text(lg.sign_document(document, operator).to_json(), encoding="utf-8")
    node.settings.league_file = path
    node.settings.keys_dir.mkdir(parents=True, exist_ok=True)
    _yantai_keys[node.city_code] = yantai_key
    return weifang_key


_yantai_keys: dict[str, SigningKey] = {}


def _remote(person_ref: str, **over: Any) -> dict[str, Any]:
    result = {
        "type": "certification.result",
        "home_city": QINGDAO,
        "certifying_city": WEIFANG,
        "person_ref": person_ref,
        "certified_on": "2025-03-08",
        "channel": "service_point",
        "outcome": "alive",
        "reference": f"WF-{uuid.uuid4().hex[:10]}",
    }
    result.update(over)
    return result


def _payload(key: SigningKey, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "result": result,
        "key_id": key.key_id,
        "signature": key.sign(service._canonical(result)).hex(),
    }


def test_a_result_signed_by_the_certifying_city_is_accepted(
    world: World, weifang: SigningKey, fixed_clock: clock.FixedClock
) -> None:
    retiree = world.retiree("李住潍坊", since=dt.date(2024, 1, 1))
    with world.node.transaction() as session:
        service.run_certification(
            session, as_of=dt.date(2025, 3, 10), actor="t", allow_illustrative=True
        )
        assert service.state_of(session, retiree).suspended
    with world.node.transaction() as session:
        result = service.apply_remote_certification(
            session, WEIFANG, _payload(weifang, _remote(_person_ref(world, retiree)))
        )
    assert isinstance(result, service.Certified)
    assert (result.channel, result.valid_until) == ("remote_city", dt.date(2026, 3, 8))
    with world.node.transaction() as session:
        state = service.state_of(session, retiree)
        assert (state.last_channel, state.suspended) == ("remote_city", False)
        assert service.evidence_of(session, retiree)[0].source == f"city:{WEIFANG}"


@pytest.mark.parametrize(
    "forgery",
    ["other-city-key", "tampered", "claims-other-certifier", "other-home", "unknown-key"],
)
def test_a_result_not_signed_by_the_sender_city_is_refused(
    world: World, weifang: SigningKey, forgery: str
) -> None:
    retiree = world.retiree("周住潍坊")
    result = _remote(_person_ref(world, retiree))
    payload = _payload(weifang, result)
    if forgery == "other-city-key":  # Yantai signs a result and Weifang's envelope carries it
        payload = _payload(_yantai_keys[QINGDAO], result)
    elif forgery == "tampered":
        payload["result"] = {**result, "certified_on": "2025-03-09"}
    elif forgery == "claims-other-certifier":
        payload = _payload(weifang, {**result, "certifying_city": YANTAI})
    elif forgery == "other-home":
        payload = _payload(weifang, {**result, "home_city": YANTAI})
    elif forgery == "unknown-key":
        payload = _payload(SigningKey.generate(WEIFANG, "Ed25519", clock.now()), result)
    with pytest.raises(Forbidden), world.node.transaction() as session:
        service.apply_remote_certification(session, WEIFANG, payload)
    with world.node.transaction() as session:
        assert service.evidence_of(session, retiree) == []


def test_a_remote_result_arrives_through_the_federation_inbox(
    world: World, weifang: SigningKey, client: TestClient, fixed_clock: clock.FixedClock
) -> None:
    retiree = world.retiree("吴住潍坊", since=dt.date(2025, 1, 1))
    at(fixed_clock, dt.date(2025, 3, 10))
    good = _remote(_person_ref(world, retiree))
    envelope = seal(
        message_id=str(uuid.uuid4()),
        sender=WEIFANG,
        receiver=QINGDAO,
        stream=service.REMOTE_STREAM,
        seq=1,
        payload_type=service.REMOTE_PAYLOAD,
        body=_payload(weifang, good),
        key=weifang,
        created_at=clock.now(),
    )
    answer = client.post("/api/v1/federation/inbox", json=envelope.to_wire())
    assert answer.status_code in (200, 202), answer.text
    assert answer.json()["status"] == "applied"
    with world.node.transaction() as session:
        assert [e.kind for e in service.evidence_of(session, retiree)] == ["remote_city"]
    # A forged result in a genuine envelope is dead-lettered, not applied.
    forged = _payload(_yantai_keys[QINGDAO], _remote(_person_ref(world, retiree)))
    envelope = seal(
        message_id=str(uuid.uuid4()),
        sender=WEIFANG,
        receiver=QINGDAO,
        stream=service.REMOTE_STREAM,
        seq=2,
        payload_type=service.REMOTE_PAYLOAD,
        body=forged,
        key=weifang,
        created_at=clock.now(),
    )
    refused = client.post("/api/v1/federation/inbox", json=envelope.to_wire())
    assert refused.json()["status"] == "dead-lettered"
    with world.node.transaction() as session:
        assert len(service.evidence_of(session, retiree)) == 1


def test_this_city_sends_a_signed_result_home(world: World, weifang: SigningKey) -> None:
    with world.node.transaction() as session:
        message_id = service.send_remote_certification(
            session,
            home_city=WEIFANG,
            person_ref="P123",
            certified_on=dt.date(2025, 3, 9),
            channel="home_visit",
            outcome="alive",
            reference="QD-HV-1",
        )
    from yikatong.core.outbox import OutboxMessage

    with world.node.transaction() as session:
        row = session.query(OutboxMessage).filter_by(message_id=message_id).one()
        body = row.body
    # What Weifang would verify: Qingdao's key from the league file over the result.
    league = lg.load_league(world.node.settings.league_file)  # type: ignore[arg-type]
    key = league.trust.get(body["key_id"])
    assert key is not None and key.city_code == QINGDAO
    assert key.verify(service._canonical(body["result"]), bytes.fromhex(body["signature"]))
    assert body["result"]["certifying_city"] == QINGDAO
