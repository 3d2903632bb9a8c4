"""What a certificate says and the signed seal in its QR code (电子证明验证码). Pure: no database.

The content of a certificate is the canonical JSON of every field printed on it (sorted keys,
compact, UTF-8). The QR code carries a seal over that content; binary layout, big-endian::

    version     1 byte   (1)
    type        1 byte   1 = proof of insurance (参保证明), 2 = contribution details (缴费明细)
    city        3 bytes  GB/T 2260 code of the issuing city as an integer
    key id      4 bytes  the hex part of ``keyring.key_id_for`` (the tag follows the algorithm)
    algorithm   1 byte   1 = SM2 with SM3 digest, 2 = Ed25519
    issued at   4 bytes  Unix seconds
    digest      32 bytes SM3 of the canonical content
    serial      1 byte   length, then the serial in ASCII
    signature   64 bytes SM2 r ‖ s, or Ed25519, over everything before it

The QR text is ``YKD1:`` and base45 (RFC 9285) of those bytes, so the code stays in the QR
alphanumeric mode like the e-SSC codes (``essc.tokens``); the encoding is repeated here because a
domain reaches another only through its service module.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from yikatong.core.base45 import b45decode, b45encode
from yikatong.core.clock import CHINA_TZ
from yikatong.core.errors import DomainError
from yikatong.crypto.keyring import Algorithm, SigningKey, TrustList
from yikatong.crypto.sm3 import sm3
from yikatong.documents.models import DocumentType

TEXT_PREFIX = "YKD1:"
CONTENT_VERSION = 1
SEAL_VERSION = 1
SIGNATURE_BYTES = 64
DIGEST_BYTES = 32

_ALGORITHM_CODES: dict[Algorithm, int] = {"SM2": 1, "Ed25519": 2}
_ALGORITHMS_BY_CODE: dict[int, Algorithm] = {v: k for k, v in _ALGORITHM_CODES.items()}
_KEY_TAG: dict[Algorithm, str] = {"SM2": "s", "Ed25519": "e"}
_TYPES_BY_CODE = {t.code: t for t in DocumentType}


class RejectReason(enum.StrEnum):
    """Why a certificate is not accepted: one stable code per kind of failure."""

    UNREADABLE = "unreadable"  # not a PDF, or no single QR code on its first page
    MALFORMED = "malformed"  # the QR text is not a certificate seal
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"  # the QR code was altered or forged
    WRONG_CITY = "wrong-city"
    KEY_RETIRED = "key-retired"
    CONTENT_MISSING = "content-missing"  # the embedded content is absent or unreadable
    QR_MISMATCH = "qr-mismatch"  # the QR code belongs to another certificate
    DIGEST_MISMATCH = "digest-mismatch"  # the embedded content was edited
    TEXT_MISMATCH = "text-mismatch"  # the printed page does not show the signed content
    # Only the issuing city's register can tell these (online verification).
    NOT_ISSUED = "not-issued"
    RECORD_MISMATCH = "record-mismatch"
    REVOKED = "revoked"


class DocumentRejected(DomainError):
    """The certificate must not be accepted; ``reason`` says why (HTTP 422)."""

    status: ClassVar[int] = 422
    slug: ClassVar[str] = "document-rejected"
    title: ClassVar[str] = "Certificate rejected"
    exit_code: ClassVar[int] = 2

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason


class DocumentRevoked(DocumentRejected):
    """A genuine certificate that the issuing city has revoked (HTTP 409)."""

    status: ClassVar[int] = 409
    slug: ClassVar[str] = "document-revoked"
    title: ClassVar[str] = "Certificate revoked"
    exit_code: ClassVar[int] = 4


# --- content -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    """A titled table. Without ``columns`` the rows are label/value pairs; ``note`` is a line
    printed under the table (e.g. that a period holds no entries)."""

    heading: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "heading": self.heading,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        return cls(
            heading=_text(data["heading"]),
            columns=tuple(_text(c) for c in data["columns"]),
            rows=tuple(tuple(_text(c) for c in row) for row in data["rows"]),
            note=_text(data["note"]),
        )


@dataclass(frozen=True, slots=True)
class DocumentContent:
    """Everything printed on a certificate; its canonical JSON is what the seal signs."""

    doc_type: DocumentType
    serial: str
    city_code: str
    issuer: str
    issued_at: dt.datetime
    title: str
    holder_name: str
    holder_id_masked: str
    statement: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": CONTENT_VERSION,
            "type": self.doc_type.value,
            "serial": self.serial,
            "city": self.city_code,
            "issuer": self.issuer,
            "issued_at": self.issued_at.astimezone(CHINA_TZ).isoformat(),
            "title": self.title,
            "holder": {"name": self.holder_name, "id": self.holder_id_masked},
            "statement": self.statement,
            "sections": [s.to_json() for s in self.sections],
        }

    @classmethod
    def from_json(cls, data: Any) -> DocumentContent:
        """Parse canonical content; ``ValueError`` when it is not a certificate's content."""
        try:
            if data["v"] != CONTENT_VERSION:
                raise ValueError(f"unsupported content version {data['v']!r}")
            issued_at = dt.datetime.fromisoformat(_text(data["issued_at"]))
            if issued_at.tzinfo is None:
                raise ValueError("issued_at has no time zone")
            return cls(
                doc_type=DocumentType(data["type"]),
                serial=_text(data["serial"]),
                city_code=_text(data["city"]),
                issuer=_text(data["issuer"]),
                issued_at=issued_at,
                title=_text(data["title"]),
                holder_name=_text(data["holder"]["name"]),
                holder_id_masked=_text(data["holder"]["id"]),
                statement=_text(data["statement"]),
                sections=tuple(Section.from_json(s) for s in data["sections"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"content field missing or of the wrong type: {exc}") from None

    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    def digest(self) -> bytes:
        return sm3(self.canonical())

    @property
    def issued_on_text(self) -> str:
        """The issue date as printed (Beijing time)."""
        local = self.issued_at.astimezone(CHINA_TZ)
        return f"{local.year}年{local.month}月{local.day}日"

    @property
    def issued_at_text(self) -> str:
        return self.issued_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")

    def shown_fields(self) -> list[str]:
        """Every value the printed page must show, in reading order."""
        values = [
            self.title,
            self.serial,
            self.holder_name,
            self.holder_id_masked,
            self.statement,
        ]
        for section in self.sections:
            values += [section.heading, *section.columns]
            for row in section.rows:
                values += [cell for cell in row if cell]
            if section.note:
                values.append(section.note)
        values += [self.issuer, self.issued_on_text, self.issued_at_text]
        return values


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def canonical_json(data: Any) -> bytes:
    """Sorted-key compact UTF-8 JSON: the one byte form that is digested."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


# --- the seal --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SealClaims:
    doc_type: DocumentType
    serial: str
    city_code: str
    key_id: str
    algorithm: Algorithm
    issued_at: dt.datetime
    digest: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "type": self.doc_type.value,
            "serial": self.serial,
            "city_code": self.city_code,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
            "issued_at": self.issued_at.isoformat(),
            "digest": self.digest.hex(),
        }


def _body(claims: SealClaims) -> bytes:
    serial = claims.serial.encode("ascii")
    if not 0 < len(serial) < 256:
        raise ValueError("a serial is 1–255 ASCII characters")
    tag = _KEY_TAG[claims.algorithm]
    if len(claims.key_id) != 9 or claims.key_id[0] != tag:
        raise ValueError(f"key id {claims.key_id!r} is not a {claims.algorithm} key id")
    return b"".join(
        (
            bytes([SEAL_VERSION, claims.doc_type.code]),
            int(claims.city_code).to_bytes(3, "big"),
            bytes.fromhex(claims.key_id[1:]),
            bytes([_ALGORITHM_CODES[claims.algorithm]]),
            struct.pack(">I", int(claims.issued_at.timestamp())),
            claims.digest,
            bytes([len(serial)]),
            serial,
        )
    )


def seal(key: SigningKey, content: DocumentContent) -> str:
    """The QR text of ``content``, signed with ``key`` (the issuing city is the key's city)."""
    if content.city_code != key.city_code:
        raise ValueError("a certificate is sealed by a key of its own city")
    claims = SealClaims(
        doc_type=content.doc_type,
        serial=content.serial,
        city_code=key.city_code,
        key_id=key.key_id,
        algorithm=key.algorithm,
        issued_at=content.issued_at,
        digest=content.digest(),
    )
    body = _body(claims)
    return TEXT_PREFIX + b45encode(body + key.sign(body))


def read_seal(text: str) -> tuple[SealClaims, bytes, bytes]:
    """Parse without checking anything but the shape: ``(claims, signed bytes, signature)``."""
    text = text.strip()
    if not text.startswith(TEXT_PREFIX):
        raise _malformed(f"the code does not start with {TEXT_PREFIX!r}")
    try:
        raw = b45decode(text[len(TEXT_PREFIX) :])
        body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
        head = 1 + 1 + 3 + 4 + 1 + 4 + DIGEST_BYTES
        if len(raw) <= head + 1 + SIGNATURE_BYTES:
            raise ValueError("the code is too short")
        if body[0] != SEAL_VERSION:
            raise ValueError(f"unsupported seal version {body[0]}")
        doc_type = _TYPES_BY_CODE.get(body[1])
        algorithm = _ALGORITHMS_BY_CODE.get(body[9])
        if doc_type is None or algorithm is None:
            raise ValueError("unknown certificate type or algorithm")
        serial_len = body[head]
        if head + 1 + serial_len != len(body):
            raise ValueError("the code's length does not match its fields")
        city = int.from_bytes(body[2:5], "big")
        if not 100_000 <= city <= 999_999:
            raise ValueError("city code out of range")
        (issued,) = struct.unpack(">I", body[10:14])
        claims = SealClaims(
            doc_type=doc_type,
            serial=body[head + 1 :].decode("ascii"),
            city_code=f"{city:06d}",
            key_id=_KEY_TAG[algorithm] + body[5:9].hex(),
            algorithm=algorithm,
            issued_at=dt.datetime.fromtimestamp(issued, dt.UTC),
            digest=body[14:head],
        )
    except (ValueError, IndexError, struct.error) as exc:
        raise _malformed(str(exc)) from None
    return claims, body, signature


def _malformed(why: str) -> DocumentRejected:
    return DocumentRejected(
        RejectReason.MALFORMED, f"the QR code is not a certificate verification code ({why})"
    )


def check_seal(text: str, trust: TrustList) -> SealClaims:
    """Check the QR code's signature against the trust list (离线验签) and return its claims.

    A certificate outlives the e-SSC grace period that a trust list's ``verify_until`` is sized
    for, so a retired key still verifies what it signed before it retired.
    """
    claims, body, signature = read_seal(text)
    key = trust.get(claims.key_id)
    if key is None or key.algorithm != claims.algorithm:
        raise DocumentRejected(
            RejectReason.UNKNOWN_KEY,
            f"the certificate is signed with key {claims.key_id}, which is not in the trust "
            "list; get the issuing city's current trust list",
        )
    if not key.verify(body, signature):
        raise DocumentRejected(
            RejectReason.BAD_SIGNATURE,
            "the QR code's signature is invalid: the code was altered or forged",
        )
    if key.city_code != claims.city_code:
        raise DocumentRejected(
            RejectReason.WRONG_CITY,
            f"the QR code names city {claims.city_code} but is signed by a key of "
            f"city {key.city_code}",
        )
    if not key.valid_at(claims.issued_at):
        raise DocumentRejected(
            RejectReason.KEY_RETIRED,
            f"key {key.key_id} was not in service on {claims.issued_at.isoformat()}, when the "
            "certificate claims to have been issued",
        )
    return claims


def _normalised(text: str) -> str:
    return "".join(text.split())


def check_document(
    qr_text: str, embedded: bytes | None, page_text: str, trust: TrustList
) -> tuple[SealClaims, DocumentContent]:
    """Offline verification of a certificate read from its PDF: the seal, the embedded content
    it signs, and the printed text. Raises ``DocumentRejected`` with a distinct ``reason``."""
    claims = check_seal(qr_text, trust)
    if embedded is None:
        raise DocumentRejected(
            RejectReason.CONTENT_MISSING,
            "the PDF carries no embedded certificate content; it was not produced by the "
            "issuing platform or was re-saved by another program",
        )
    try:
        content = DocumentContent.from_json(json.loads(embedded.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentRejected(
            RejectReason.CONTENT_MISSING, f"the embedded certificate content is unreadable: {exc}"
        ) from None
    if (content.serial, content.city_code, content.doc_type) != (
        claims.serial,
        claims.city_code,
        claims.doc_type,
    ) or int(content.issued_at.timestamp()) != int(claims.issued_at.timestamp()):
        raise DocumentRejected(
            RejectReason.QR_MISMATCH,
            f"the QR code belongs to certificate {claims.serial}, not to {content.serial}",
        )
    if content.digest() != claims.digest:
        raise DocumentRejected(
            RejectReason.DIGEST_MISMATCH,
            "the certificate's content was changed after it was signed",
        )
    shown = _normalised(page_text)
    missing = [value for value in content.shown_fields() if _normalised(value) not in shown]
    if missing:
        raise DocumentRejected(
            RejectReason.TEXT_MISMATCH,
            f"the printed page does not show the signed content (missing: {missing[0]!r}); "
            "the page was altered",
        )
    return claims, content
