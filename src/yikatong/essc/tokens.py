"""The signed dynamic QR token of the electronic SSC (电子社保卡动态二维码). Pure: no database.

Binary layout (big-endian), signed as a whole except the signature itself::

    version        1 byte   (1)
    level          1 byte   1 = L1 identity (身份), 2 = L2 payment (支付)
    holder         1 byte   length, top bit set when the ref is packed hex; then the card_ref
    city           3 bytes  GB/T 2260 code of the issuing city as an integer
    key id         4 bytes  the hex part of ``keyring.key_id_for`` (the tag follows the algorithm)
    issued at      4 bytes  Unix seconds
    lifetime       2 bytes  seconds; expiry = issued at + lifetime
    nonce          1 byte   length (8–12), then the random single-use nonce
    algorithm      1 byte   1 = SM2 with SM3 digest, 2 = Ed25519
    signature      64 bytes SM2 r ‖ s, or Ed25519

The text in the QR code is ``YK1:`` followed by base45 (RFC 9285) of those bytes: every character
is in the QR alphanumeric set, so the code packs 5.5 bits per character instead of 8.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from yikatong.core.base45 import b45decode, b45encode
from yikatong.core.errors import DomainError
from yikatong.crypto.keyring import Algorithm, SigningKey, TrustList

TEXT_PREFIX = "YK1:"
VERSION = 1
NONCE_BYTES = 10
MIN_NONCE_BYTES, MAX_NONCE_BYTES = 8, 12
SIGNATURE_BYTES = 64
DEFAULT_SKEW = dt.timedelta(seconds=10)

_ALGORITHM_CODES: dict[Algorithm, int] = {"SM2": 1, "Ed25519": 2}
_ALGORITHMS_BY_CODE: dict[int, Algorithm] = {v: k for k, v in _ALGORITHM_CODES.items()}
_KEY_TAG: dict[Algorithm, str] = {"SM2": "s", "Ed25519": "e"}
_HEX_FLAG = 0x80
_MAX_REF = 0x7F


class Level(enum.StrEnum):
    """L1 proves who the holder is; L2 pays and needs the 6-digit PIN."""

    L1 = "L1"
    L2 = "L2"

    @property
    def code(self) -> int:
        return 1 if self is Level.L1 else 2


class RejectReason(enum.StrEnum):
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    WRONG_CITY = "wrong-city"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    KEY_RETIRED = "key-retired"
    DENIED = "denied"
    # Only the online check (service.verify_online) can tell these.
    REPLAYED = "replayed"
    CARD_NOT_ACTIVE = "card-not-active"


# The token itself is wrong (422) versus the token is fine but the state forbids it (409).
_STATE_REASONS = frozenset(
    {RejectReason.DENIED, RejectReason.REPLAYED, RejectReason.CARD_NOT_ACTIVE}
)


class TokenRejected(DomainError):
    """The QR code must not be accepted; ``reason`` says why (a stable code for terminals).

    HTTP 422 when the token itself is unacceptable (malformed, forged, expired, wrong city…);
    HTTP 409 (see ``TokenRefused``) when it is genuine but the card's state refuses it.
    """

    status: ClassVar[int] = 422
    slug: ClassVar[str] = "essc-token-rejected"
    title: ClassVar[str] = "e-SSC code rejected"
    exit_code: ClassVar[int] = 2

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason

    @staticmethod
    def of(reason: RejectReason, detail: str) -> TokenRejected:
        """The right subclass for a reason."""
        if reason in _STATE_REASONS:
            return TokenRefused(reason, detail)
        return TokenRejected(reason, detail)


class TokenRefused(TokenRejected):
    """A genuine code refused because of state: card lost or denied, code already used (409)."""

    status: ClassVar[int] = 409
    slug: ClassVar[str] = "essc-token-refused"
    title: ClassVar[str] = "e-SSC code refused"
    exit_code: ClassVar[int] = 4


@dataclass(frozen=True, slots=True)
class TokenClaims:
    version: int
    level: Level
    card_ref: str
    city_code: str
    key_id: str
    algorithm: Algorithm
    issued_at: dt.datetime
    expires_at: dt.datetime
    nonce: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "level": self.level.value,
            "card_ref": self.card_ref,
            "city_code": self.city_code,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "nonce": self.nonce.hex(),
        }


# --- encoding ---------------------------------------------------------------------------------


def _is_packed_hex(ref: str) -> bool:
    return len(ref) % 2 == 0 and all(c in "0123456789abcdef" for c in ref)


def _pack_ref(ref: str) -> bytes:
    if not ref:
        raise ValueError("card_ref must not be empty")
    if _is_packed_hex(ref):
        raw = bytes.fromhex(ref)
        flag = _HEX_FLAG
    else:
        raw = ref.encode("ascii")
        flag = 0
    if len(raw) > _MAX_REF:
        raise ValueError("card_ref is too long for a token")
    return bytes([flag | len(raw)]) + raw


def _key_hex(key_id: str, algorithm: Algorithm) -> bytes:
    if len(key_id) != 9 or key_id[0] != _KEY_TAG[algorithm]:
        raise ValueError(f"key id {key_id!r} is not a {algorithm} key id")
    return bytes.fromhex(key_id[1:])


def _body(claims: TokenClaims) -> bytes:
    lifetime = int((claims.expires_at - claims.issued_at).total_seconds())
    if not 0 < lifetime <= 0xFFFF:
        raise ValueError("token lifetime must be between 1 s and 18 h")
    if not MIN_NONCE_BYTES <= len(claims.nonce) <= MAX_NONCE_BYTES:
        raise ValueError("nonce must be 8 to 12 bytes")
    if not (len(claims.city_code) == 6 and claims.city_code.isdigit()):
        raise ValueError("city code must be 6 digits")
    return b"".join(
        (
            bytes([claims.version, claims.level.code]),
            _pack_ref(claims.card_ref),
            int(claims.city_code).to_bytes(3, "big"),
            _key_hex(claims.key_id, claims.algorithm),
            struct.pack(">IH", int(claims.issued_at.timestamp()), lifetime),
            bytes([len(claims.nonce)]),
            claims.nonce,
            bytes([_ALGORITHM_CODES[claims.algorithm]]),
        )
    )


@dataclass(frozen=True, slots=True)
class SignedToken:
    claims: TokenClaims
    text: str


def issue_token(
    key: SigningKey,
    card_ref: str,
    level: Level,
    *,
    now: dt.datetime,
    ttl_seconds: int,
    nonce: bytes | None = None,
) -> SignedToken:
    """Sign a fresh token for ``card_ref`` with ``key`` (the issuing city is the key's city)."""
    issued = now.astimezone(dt.UTC).replace(microsecond=0)
    claims = TokenClaims(
        version=VERSION,
        level=level,
        card_ref=card_ref,
        city_code=key.city_code,
        key_id=key.key_id,
        algorithm=key.algorithm,
        issued_at=issued,
        expires_at=issued + dt.timedelta(seconds=ttl_seconds),
        nonce=os.urandom(NONCE_BYTES) if nonce is None else nonce,
    )
    body = _body(claims)
    return SignedToken(claims, TEXT_PREFIX + b45encode(body + key.sign(body)))


def decode_token(text: str) -> tuple[TokenClaims, bytes, bytes]:
    """Parse without checking anything but the shape: ``(claims, signed bytes, signature)``."""
    if not text.startswith(TEXT_PREFIX):
        raise _malformed(f"the code does not start with {TEXT_PREFIX!r}")
    try:
        raw = b45decode(text[len(TEXT_PREFIX) :])
        return _parse(raw)
    except (ValueError, IndexError, struct.error) as exc:
        raise _malformed(str(exc)) from None


def _parse(raw: bytes) -> tuple[TokenClaims, bytes, bytes]:
    if len(raw) <= SIGNATURE_BYTES:
        raise ValueError("the code is too short")
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    version, level_code = body[0], body[1]
    if version != VERSION:
        raise ValueError(f"unsupported token version {version}")
    if level_code not in (1, 2):
        raise ValueError(f"unknown level {level_code}")
    pos = 2
    ref_head = body[pos]
    ref_len = ref_head & _MAX_REF
    ref_raw = body[pos + 1 : pos + 1 + ref_len]
    if ref_len == 0 or len(ref_raw) != ref_len:
        raise ValueError("truncated card reference")
    card_ref = ref_raw.hex() if ref_head & _HEX_FLAG else ref_raw.decode("ascii")
    if not ref_head & _HEX_FLAG and _is_packed_hex(card_ref):
        raise ValueError("card reference is not in canonical form")
    pos += 1 + ref_len
    city = int.from_bytes(body[pos : pos + 3], "big")
    key_hex = body[pos + 3 : pos + 7]
    issued, lifetime = struct.unpack(">IH", body[pos + 7 : pos + 13])
    pos += 13
    nonce_len = body[pos]
    if not MIN_NONCE_BYTES <= nonce_len <= MAX_NONCE_BYTES:
        raise ValueError("nonce length out of range")
    nonce = body[pos + 1 : pos + 1 + nonce_len]
    pos += 1 + nonce_len
    algorithm = _ALGORITHMS_BY_CODE.get(body[pos])
    if algorithm is None:
        raise ValueError(f"unknown algorithm {body[pos]}")
    if len(nonce) != nonce_len or pos + 1 != len(body):
        raise ValueError("token length does not match its fields")
    if city > 999_999 or city < 100_000 or lifetime == 0:
        raise ValueError("city code or lifetime out of range")
    issued_at = dt.datetime.fromtimestamp(issued, dt.UTC)
    claims = TokenClaims(
        version=version,
        level=Level.L1 if level_code == 1 else Level.L2,
        card_ref=card_ref,
        city_code=f"{city:06d}",
        key_id=_KEY_TAG[algorithm] + key_hex.hex(),
        algorithm=algorithm,
        issued_at=issued_at,
        expires_at=issued_at + dt.timedelta(seconds=lifetime),
        nonce=nonce,
    )
    return claims, body, signature


def _malformed(why: str) -> TokenRejected:
    return TokenRejected(RejectReason.MALFORMED, f"not a readable e-SSC code ({why}); scan again")


# --- verification -----------------------------------------------------------------------------


def verify_offline(
    text: str,
    trust_list: TrustList,
    *,
    now: dt.datetime,
    denied_refs: Collection[str] = frozenset(),
    accept_cities: Collection[str] | None = None,
    skew: dt.timedelta = DEFAULT_SKEW,
) -> TokenClaims:
    """Check a scanned code with nothing but the trust list and the deny list (离线验码).

    The signature is checked before any claim is believed; the checks that follow read only
    signed data. ``accept_cities=None`` accepts every city present in the trust list.
    Raises ``TokenRejected`` with a distinct ``reason``.
    """
    claims, body, signature = decode_token(text)
    key = trust_list.get(claims.key_id)
    if key is None or key.algorithm != claims.algorithm:
        raise TokenRejected(
            RejectReason.UNKNOWN_KEY,
            f"the code is signed with key {claims.key_id}, which this terminal does not trust; "
            "refresh the trust list",
        )
    if not key.verify(body, signature):
        raise TokenRejected(
            RejectReason.BAD_SIGNATURE, "the code's signature is invalid: it was altered or forged"
        )
    if key.city_code != claims.city_code or (
        accept_cities is not None and claims.city_code not in accept_cities
    ):
        raise TokenRejected(
            RejectReason.WRONG_CITY,
            f"codes issued by city {claims.city_code} are not accepted here",
        )
    if not key.valid_at(claims.issued_at) or not key.usable_at(now):
        raise TokenRejected(
            RejectReason.KEY_RETIRED,
            f"key {key.key_id} was not in service when this code was made or is no longer "
            "usable; ask the holder to refresh the code",
        )
    if claims.issued_at > now + skew:
        raise TokenRejected(
            RejectReason.NOT_YET_VALID,
            "the code was made in the future; check the clock of the phone or the terminal",
        )
    if now > claims.expires_at + skew:
        raise TokenRejected(
            RejectReason.EXPIRED, "the code has expired; ask the holder to refresh it"
        )
    if claims.card_ref in denied_refs:
        raise TokenRefused(
            RejectReason.DENIED,
            "the card behind this code is on the deny list (lost, suspended or replaced)",
        )
    return claims


@dataclass
class DenyList:
    """A terminal's offline copy of the card deny list (黑名单), kept current by deltas."""

    refs: set[str] = field(default_factory=set)
    last_seq: int = 0

    def apply(self, entries: Iterable[Any]) -> None:
        """Apply ``cards.service.deny_list_since`` entries (``seq``, ``card_ref``, ``action``)."""
        for entry in sorted(entries, key=lambda e: int(e.seq)):
            if int(entry.seq) <= self.last_seq:
                continue
            if entry.action == "add":
                self.refs.add(entry.card_ref)
            else:
                self.refs.discard(entry.card_ref)
            self.last_seq = int(entry.seq)
