"""The signed e-SSC QR token: encoding, and every reason a terminal refuses a code offline."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.crypto.keyring import SigningKey, TrustList
from yikatong.essc import tokens
from yikatong.essc.tokens import Level, RejectReason, TokenRefused, TokenRejected

T0 = dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC)
REF = "9f3c2a17b04e6d58"  # cards.service makes 16 hex digits
TTL = 60
SM2_KEY = SigningKey.generate("370200", "SM2", T0 - dt.timedelta(days=1))
ED_KEY = SigningKey.generate("370200", "Ed25519", T0 - dt.timedelta(days=1))
TRUST = TrustList()
TRUST.add(SM2_KEY.verify_key())
TRUST.add(ED_KEY.verify_key())


def issue(key: SigningKey = SM2_KEY, *, at: dt.datetime = T0, level: Level = Level.L1) -> str:
    return tokens.issue_token(key, REF, level, now=at, ttl_seconds=TTL).text


def reason_of(text: str, trust: TrustList = TRUST, **kwargs: object) -> RejectReason:
    kwargs.setdefault("now", T0)
    with pytest.raises(TokenRejected) as caught:
        tokens.verify_offline(text, trust, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


def raw_of(text: str) -> bytes:
    return tokens.b45decode(text.removeprefix(tokens.TEXT_PREFIX))


def text_of(raw: bytes) -> str:
    return tokens.TEXT_PREFIX + tokens.b45encode(raw)


# --- base45 (RFC 9285 §4.3 examples) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("plain", "encoded"),
    [
        (b"AB", "BB8"),
        (b"Hello!!", "%69 VD92EX0"),
        (b"base-45", "UJCLQE7W581"),
        (b"ietf!", "QED8WEX0"),
    ],
)
def test_base45_matches_rfc_9285_examples(plain: bytes, encoded: str) -> None:
    assert tokens.b45encode(plain) == encoded
    assert tokens.b45decode(encoded) == plain


@pytest.mark.parametrize("bad", ["GGW", "A", "abc", "ZZ"])
def test_base45_refuses_out_of_range_or_foreign_text(bad: str) -> None:
    with pytest.raises(ValueError):
        tokens.b45decode(bad)


@given(st.binary(max_size=200))
def test_base45_round_trips_any_bytes(data: bytes) -> None:
    assert tokens.b45decode(tokens.b45encode(data)) == data


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [SM2_KEY, ED_KEY], ids=["SM2", "Ed25519"])
def test_a_fresh_code_verifies_and_carries_its_claims(key: SigningKey) -> None:
    claims = tokens.verify_offline(issue(key, level=Level.L2), TRUST, now=T0)
    assert claims.card_ref == REF
    assert claims.level is Level.L2
    assert claims.city_code == "370200"
    assert claims.key_id == key.key_id
    assert claims.algorithm == key.algorithm
    assert claims.issued_at == T0
    assert claims.expires_at == T0 + dt.timedelta(seconds=60)
    assert len(claims.nonce) == tokens.NONCE_BYTES


def test_the_code_text_is_qr_alphanumeric_and_compact() -> None:
    text = issue()
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert len(text) == 154  # 100 bytes → 150 base45 characters + "YK1:"


def test_two_codes_for_the_same_card_have_different_nonces() -> None:
    first = tokens.verify_offline(issue(), TRUST, now=T0)
    second = tokens.verify_offline(issue(), TRUST, now=T0)
    assert first.nonce != second.nonce


@settings(max_examples=60, deadline=None)
@given(
    ref=st.one_of(
        st.text("0123456789abcdef", min_size=2, max_size=64).filter(lambda s: len(s) % 2 == 0),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    ),
    level=st.sampled_from(Level),
    nonce=st.binary(min_size=8, max_size=12),
)
def test_decoding_gives_back_exactly_what_was_signed(ref: str, level: Level, nonce: bytes) -> None:
    signed = tokens.issue_token(ED_KEY, ref, level, now=T0, ttl_seconds=TTL, nonce=nonce)
    claims, _, _ = tokens.decode_token(signed.text)
    assert claims == signed.claims


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_rejected(data: st.DataObject) -> None:
    raw = bytearray(raw_of(issue(data.draw(st.sampled_from([SM2_KEY, ED_KEY])))))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]))
    with pytest.raises(TokenRejected):
        tokens.verify_offline(text_of(bytes(raw)), TRUST, now=T0)


# --- one distinct reason per refusal --------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "HELLO", "YK1:", "YK1:abc", "YK1:GGW", "YK1:" + tokens.b45encode(b"\x01\x01" + bytes(70))],
)
def test_unreadable_text_is_malformed(text: str) -> None:
    assert reason_of(text) is RejectReason.MALFORMED


def test_a_truncated_code_is_malformed() -> None:
    assert reason_of(text_of(raw_of(issue())[:-1])) is RejectReason.MALFORMED


def test_a_key_missing_from_the_trust_list_is_unknown() -> None:
    stranger = SigningKey.generate("370200", "SM2", T0)
    assert reason_of(issue(stranger)) is RejectReason.UNKNOWN_KEY


def test_an_altered_signature_is_bad() -> None:
    raw = bytearray(raw_of(issue()))
    raw[-1] ^= 0x01
    assert reason_of(text_of(bytes(raw))) is RejectReason.BAD_SIGNATURE


def test_a_city_the_terminal_does_not_accept_is_wrong_city() -> None:
    assert reason_of(issue(), accept_cities={"370600"}) is RejectReason.WRONG_CITY


def test_a_token_naming_another_city_than_its_keys_is_wrong_city() -> None:
    trust = TrustList()
    trust.add(dataclasses.replace(SM2_KEY.verify_key(), city_code="370600"))
    assert reason_of(issue(), trust) is RejectReason.WRONG_CITY


def test_a_code_past_its_60_seconds_and_the_skew_is_expired() -> None:
    text = issue()
    late = T0 + dt.timedelta(seconds=TTL) + tokens.DEFAULT_SKEW
    assert tokens.verify_offline(text, TRUST, now=late).card_ref == REF
    assert reason_of(text, now=late + dt.timedelta(seconds=1)) is RejectReason.EXPIRED


def test_a_code_from_beyond_the_clock_skew_is_not_yet_valid() -> None:
    early = T0 - tokens.DEFAULT_SKEW
    assert tokens.verify_offline(issue(), TRUST, now=early).card_ref == REF
    assert reason_of(issue(), now=early - dt.timedelta(seconds=1)) is RejectReason.NOT_YET_VALID


def test_a_denied_card_is_refused_with_a_state_status() -> None:
    with pytest.raises(TokenRefused) as caught:
        tokens.verify_offline(issue(), TRUST, now=T0, denied_refs={REF})
    assert caught.value.reason is RejectReason.DENIED
    assert caught.value.status == 409


def test_the_problem_carries_the_reason_code() -> None:
    with pytest.raises(TokenRejected) as caught:
        tokens.verify_offline("HELLO", TRUST, now=T0)
    assert caught.value.status == 422
    assert caught.value.problem()["reason"] == "malformed"


# --- key rotation ---------------------------------------------------------------------------


def retired(key: SigningKey, at: dt.datetime) -> SigningKey:
    return dataclasses.replace(key, retired_at=at)


def test_a_retired_key_still_verifies_codes_signed_before_retirement_until_they_expire() -> None:
    text = issue()
    trust = TrustList()
    trust.add(retired(SM2_KEY, T0 + dt.timedelta(seconds=5)).verify_key(dt.timedelta(seconds=TTL)))
    assert tokens.verify_offline(text, trust, now=T0 + dt.timedelta(seconds=50)).card_ref == REF


def test_a_code_signed_after_its_key_retired_is_key_retired() -> None:
    trust = TrustList()
    trust.add(retired(SM2_KEY, T0 - dt.timedelta(seconds=1)).verify_key(dt.timedelta(seconds=TTL)))
    assert reason_of(issue(), trust) is RejectReason.KEY_RETIRED


def test_a_key_past_verify_until_is_key_retired() -> None:
    text = issue()
    trust = TrustList()
    # Retired with no grace: nothing it signed may be accepted after the retirement instant.
    trust.add(retired(SM2_KEY, T0).verify_key())
    assert reason_of(text, trust, now=T0 + dt.timedelta(seconds=1)) is RejectReason.KEY_RETIRED


def test_every_offline_reason_above_is_distinct() -> None:
    offline = {
        RejectReason.MALFORMED,
        RejectReason.UNKNOWN_KEY,
        RejectReason.BAD_SIGNATURE,
        RejectReason.WRONG_CITY,
        RejectReason.EXPIRED,
        RejectReason.NOT_YET_VALID,
        RejectReason.KEY_RETIRED,
        RejectReason.DENIED,
    }
    assert len({r.value for r in offline}) == 8


@pytest.mark.parametrize("algorithm", ["SM2", "Ed25519"])
def test_a_code_signed_in_the_second_its_key_was_made_verifies(algorithm: str) -> None:
    # Codes carry whole seconds; a key made at 02:00:00.700 signs a code stamped 02:00:00.
    made = T0 + dt.timedelta(milliseconds=700)
    key = SigningKey.generate("370200", algorithm, made)  # type: ignore[arg-type]
    trust = TrustList()
    trust.add(key.verify_key())
    text = tokens.issue_token(key, REF, Level.L1, now=made, ttl_seconds=TTL).text
    assert tokens.verify_offline(text, trust, now=made).key_id == key.key_id
