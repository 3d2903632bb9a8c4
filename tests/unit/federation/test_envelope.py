"""Signed envelopes: canonical form, and one distinct reason code per way of being refused."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.crypto.keyring import Algorithm, SigningKey, TrustList
from yikatong.federation.envelope import (
    REASONS,
    Envelope,
    EnvelopeRejected,
    seal,
    verify,
)

T0 = dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC)
QINGDAO, ZIBO, YANTAI = "370200", "370300", "370600"
KEY = SigningKey.generate(QINGDAO, "Ed25519", T0 - dt.timedelta(days=30))
SM2_KEY = SigningKey.generate(QINGDAO, "SM2", T0 - dt.timedelta(days=30))
ZIBO_KEY = SigningKey.generate(ZIBO, "Ed25519", T0 - dt.timedelta(days=30))
MEMBERS = frozenset({QINGDAO, ZIBO, YANTAI})


def trust(*keys: SigningKey) -> TrustList:
    result = TrustList()
    for key in keys or (KEY, SM2_KEY, ZIBO_KEY):
        result.add(key.verify_key())
    return result


def sealed(
    key: SigningKey = KEY, *, at: dt.datetime = T0, receiver: str = YANTAI, **over: Any
) -> Envelope:
    fields: dict[str, Any] = {
        "message_id": str(uuid.UUID(int=7, version=4)),
        "sender": key.city_code,
        "receiver": receiver,
        "stream": "clearing",
        "seq": 3,
        "payload_type": "note",
        "body": {"text": "结算 2025-03-09", "amount_fen": 12345, "items": [1, 2]},
    }
    fields.update(over)
    return seal(key=key, created_at=at, **fields)


def check(wire: Any, *, now: dt.datetime = T0, trust_list: TrustList | None = None) -> Envelope:
    return verify(wire, trust=trust_list or trust(), members=MEMBERS, own_city=YANTAI, now=now)


def reason_of(wire: Any, **kwargs: Any) -> str:
    with pytest.raises(EnvelopeRejected) as caught:
        check(wire, **kwargs)
    return caught.value.reason


def test_signed_bytes_are_sorted_compact_utf8_json_of_every_field_but_the_signature() -> None:
    envelope = sealed()
    expected = json.dumps(
        {k: v for k, v in envelope.to_wire().items() if k != "signature"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert envelope.signed_bytes() == expected
    assert b'"created_at":"2025-03-10T02:00:00.000000Z"' in expected
    assert "结算".encode() in expected


def test_a_wire_envelope_round_trips_through_json_text() -> None:
    envelope = sealed()
    again = Envelope.from_wire(json.loads(json.dumps(envelope.to_wire())))
    assert again == envelope
    assert check(again.to_wire()) == envelope


@pytest.mark.parametrize("algorithm", ["SM2", "Ed25519"])
def test_an_envelope_signed_by_a_league_member_for_this_node_is_accepted(
    algorithm: Algorithm,
) -> None:
    key = SM2_KEY if algorithm == "SM2" else KEY
    assert check(sealed(key).to_wire()).key_id == key.key_id


def test_a_changed_body_is_refused_as_tampered() -> None:
    wire = sealed().to_wire()
    wire["body"]["amount_fen"] = 99999
    assert reason_of(wire) == "tampered"


def test_a_sender_outside_the_league_is_refused_as_unknown_sender() -> None:
    stranger = SigningKey.generate("110000", "Ed25519", T0 - dt.timedelta(days=1))
    assert reason_of(sealed(stranger).to_wire(), trust_list=trust(stranger)) == "unknown-sender"


def test_a_key_not_in_the_league_file_is_refused_as_unknown_key() -> None:
    rogue = SigningKey.generate(QINGDAO, "Ed25519", T0 - dt.timedelta(days=1))
    assert reason_of(sealed(rogue).to_wire()) == "unknown-key"


def test_a_key_of_another_city_is_refused_as_unknown_key() -> None:
    # Zibo's genuine key cannot speak for Qingdao.
    wire = sealed(ZIBO_KEY, sender=QINGDAO).to_wire()
    assert reason_of(wire) == "unknown-key"


def test_a_key_used_after_its_retirement_is_refused_as_unknown_key() -> None:
    retired = SigningKey(
        KEY.city_code,
        KEY.key_id,
        KEY.algorithm,
        KEY.private_key,
        KEY.public_key,
        KEY.not_before,
        retired_at=T0 - dt.timedelta(hours=1),
    )
    assert reason_of(sealed(KEY).to_wire(), trust_list=trust(retired)) == "unknown-key"


def test_a_key_retired_after_signing_still_verifies_during_the_overlap() -> None:
    retired = SigningKey(
        KEY.city_code,
        KEY.key_id,
        KEY.algorithm,
        KEY.private_key,
        KEY.public_key,
        KEY.not_before,
        retired_at=T0 + dt.timedelta(minutes=1),
    )
    envelope = sealed(KEY)
    assert check(envelope.to_wire(), now=T0 + dt.timedelta(hours=2), trust_list=trust(retired))


def test_an_envelope_for_another_city_is_refused_as_misrouted() -> None:
    assert reason_of(sealed(receiver=ZIBO).to_wire()) == "misrouted"


def test_created_five_minutes_ahead_is_within_the_allowed_skew() -> None:
    assert check(sealed(at=T0 + dt.timedelta(minutes=5)).to_wire(), now=T0)


def test_created_beyond_the_allowed_skew_is_refused_as_clock_skew() -> None:
    wire = sealed(at=T0 + dt.timedelta(minutes=5, seconds=1)).to_wire()
    assert reason_of(wire, now=T0) == "clock-skew"


def test_created_24_hours_ago_is_still_accepted() -> None:
    assert check(sealed(at=T0).to_wire(), now=T0 + dt.timedelta(hours=24))


def test_older_than_24_hours_is_refused_as_expired() -> None:
    wire = sealed(at=T0).to_wire()
    assert reason_of(wire, now=T0 + dt.timedelta(hours=24, seconds=1)) == "expired"


@pytest.mark.parametrize(
    "mutation",
    [
        lambda w: w.pop("seq"),
        lambda w: w.update(extra=1),
        lambda w: w.update(seq=0),
        lambda w: w.update(seq=True),
        lambda w: w.update(created_at="2025-03-10T02:00:00Z"),
        lambda w: w.update(message_id="not-a-uuid"),
        lambda w: w.update(signature="zz"),
        lambda w: w.update(body=[1]),
        lambda w: w.update(v=2),
        lambda w: w.update(sender="QD"),
    ],
)
def test_a_badly_formed_envelope_is_refused_as_malformed(mutation: Any) -> None:
    wire = sealed().to_wire()
    mutation(wire)
    assert reason_of(wire) == "malformed"


def test_every_reason_code_is_distinct_and_carried_in_the_problem_body() -> None:
    assert len(set(REASONS)) == len(REASONS)
    with pytest.raises(EnvelopeRejected) as caught:
        check(sealed(receiver=ZIBO).to_wire())
    problem = caught.value.problem()
    assert problem["reason"] == "misrouted"
    assert caught.value.status == 421


_SIGNED = sealed().to_wire()
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(_SIGNED)), value=_JSON_VALUES)
def test_any_change_to_a_signed_envelope_is_refused(field: str, value: Any) -> None:
    wire = json.loads(json.dumps(_SIGNED))
    if wire[field] == value:
        return
    wire[field] = value
    with pytest.raises(EnvelopeRejected):
        check(wire)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_flipping_any_byte_of_the_signature_is_refused_as_tampered(data: st.DataObject) -> None:
    signature = bytearray(bytes.fromhex(_SIGNED["signature"]))
    index = data.draw(st.integers(0, len(signature) - 1))
    signature[index] ^= data.draw(st.integers(1, 255))
    wire = {**_SIGNED, "signature": signature.hex()}
    assert reason_of(wire) == "tampered"
