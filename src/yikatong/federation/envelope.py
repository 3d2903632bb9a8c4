"""Signed envelopes (签名信封) exchanged between the nodes of a league.

Wire form: one JSON object ::

    {"v": 1, "message_id": "<uuid4>", "sender": "370200", "receiver": "370600",
     "stream": "clearing", "seq": 42, "created_at": "2025-03-10T02:00:00.000000Z",
     "payload_type": "clearing.batch", "body": {…}, "key_id": "s1a2b3c4d", "signature": "<hex>"}

The signature (SM2 with the SM3 digest, or Ed25519) covers the canonical serialisation of every
field except ``signature``: sorted-key, compact, UTF-8 JSON (:func:`league.canonical_json`).
``created_at`` is the signing instant in exactly that format, so parsing and re-serialising give
the same bytes; every delivery attempt is signed afresh, which lets a node that was down for days
catch up without its backlog expiring. Bodies hold no floats (money is integer fen).

Verification answers with one reason code per failure, checked in this order so that nothing is
concluded from an unauthenticated field: ``malformed``, ``unknown-sender``, ``unknown-key``,
``tampered``, ``misrouted``, ``clock-skew``, ``expired``. The inbox adds ``replayed`` (message id
already received) and ``sequence-conflict`` (a new message id reusing an applied sequence number);
the request endpoint (``rpc.py``) adds ``unsupported`` (no responder for the payload type).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from yikatong.core.errors import DomainError
from yikatong.crypto.keyring import SigningKey, TrustList
from yikatong.federation.league import canonical_json

VERSION = 1
DEFAULT_WINDOW = dt.timedelta(hours=24)
DEFAULT_SKEW = dt.timedelta(minutes=5)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CITY_RE = re.compile(r"^\d{6}$")
_FIELDS = frozenset(
    {
        "v",
        "message_id",
        "sender",
        "receiver",
        "stream",
        "seq",
        "created_at",
        "payload_type",
        "body",
        "key_id",
        "signature",
    }
)


class EnvelopeRejected(DomainError):
    """An envelope refused by the inbox, with a stable reason code (also in the problem body)."""

    status = 422
    slug = "envelope-rejected"
    title = "Envelope rejected"
    exit_code = 8

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        sender: str | None = None,
        message_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason
        self.sender = sender
        self.message_id = message_id
        self.key_id = key_id


class EnvelopeUnauthenticated(EnvelopeRejected):
    status = 401


class EnvelopeMisrouted(EnvelopeRejected):
    status = 421


class EnvelopeConflict(EnvelopeRejected):
    status = 409


# One HTTP status per reason: authentication failures 401, the rest well-formed but refused.
_CLASSES: dict[str, type[EnvelopeRejected]] = {
    "malformed": EnvelopeRejected,
    "unknown-sender": EnvelopeUnauthenticated,
    "unknown-key": EnvelopeUnauthenticated,
    "tampered": EnvelopeUnauthenticated,
    "misrouted": EnvelopeMisrouted,
    "clock-skew": EnvelopeRejected,
    "expired": EnvelopeRejected,
    "replayed": EnvelopeConflict,
    "sequence-conflict": EnvelopeConflict,
    # A request (rpc.py) of a type this node does not answer.
    "unsupported": EnvelopeRejected,
}
REASONS: tuple[str, ...] = tuple(_CLASSES)


def rejected(
    reason: str,
    detail: str,
    *,
    sender: str | None = None,
    message_id: str | None = None,
    key_id: str | None = None,
) -> EnvelopeRejected:
    """The rejection error for ``reason`` (one of :data:`REASONS`)."""
    cls = _CLASSES[reason]
    return cls(reason, detail, sender=sender, message_id=message_id, key_id=key_id)


def format_time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> dt.datetime:
    if not _TIME_RE.match(text):
        raise ValueError(f"time {text!r} is not in the form 2025-03-10T02:00:00.000000Z")
    return dt.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    message_id: str
    sender: str
    receiver: str
    stream: str
    seq: int
    created_at: dt.datetime
    payload_type: str
    body: dict[str, Any]
    key_id: str
    signature: bytes = b""

    def unsigned(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "message_id": self.message_id,
            "sender": self.sender,
            "receiver": self.receiver,
            "stream": self.stream,
            "seq": self.seq,
            "created_at": format_time(self.created_at),
            "payload_type": self.payload_type,
            "body": self.body,
            "key_id": self.key_id,
        }

    def signed_bytes(self) -> bytes:
        """The exact bytes the signature covers."""
        return canonical_json(self.unsigned())

    def to_wire(self) -> dict[str, Any]:
        return {**self.unsigned(), "signature": self.signature.hex()}

    @classmethod
    def from_wire(cls, data: Any) -> Envelope:
        """Parse the wire form strictly; anything unexpected is ``malformed``."""
        if not isinstance(data, dict):
            raise rejected("malformed", "an envelope is a JSON object")
        sender = data.get("sender") if isinstance(data.get("sender"), str) else None
        message_id = data.get("message_id") if isinstance(data.get("message_id"), str) else None

        def bad(detail: str) -> EnvelopeRejected:
            return rejected("malformed", detail, sender=sender, message_id=message_id)

        missing = _FIELDS - data.keys()
        extra = data.keys() - _FIELDS
        if missing or extra:
            raise bad(f"envelope fields missing {sorted(missing)} / unexpected {sorted(extra)}")
        if data["v"] != VERSION or isinstance(data["v"], bool):
            raise bad(f"envelope version {data['v']!r} is not supported (expected {VERSION})")
        for name in ("sender", "receiver"):
            if not isinstance(data[name], str) or not _CITY_RE.match(data[name]):
                raise bad(f"{name} must be a six-digit city code")
        for name in ("stream", "payload_type", "key_id"):
            if not isinstance(data[name], str) or not _NAME_RE.match(data[name]):
                raise bad(f"{name} must be 1–64 letters, digits, '.', '_' or '-'")
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise bad("seq must be a positive integer")
        if not isinstance(data["body"], dict):
            raise bad("body must be a JSON object")
        try:
            parsed_id = uuid.UUID(str(data["message_id"]))
            if str(parsed_id) != data["message_id"]:
                raise ValueError("not canonical")
            created_at = parse_time(str(data["created_at"]))
            signature = bytes.fromhex(str(data["signature"]))
            # Refuses NaN/Infinity and floats' ambiguity is the sender's problem: same bytes in.
            canonical_json(data["body"])
        except ValueError as exc:
            raise bad(f"envelope field is invalid: {exc}") from None
        return cls(
            message_id=data["message_id"],
            sender=data["sender"],
            receiver=data["receiver"],
            stream=data["stream"],
            seq=seq,
            created_at=created_at,
            payload_type=data["payload_type"],
            body=data["body"],
            key_id=data["key_id"],
            signature=signature,
        )


def seal(
    *,
    message_id: str,
    sender: str,
    receiver: str,
    stream: str,
    seq: int,
    payload_type: str,
    body: dict[str, Any],
    key: SigningKey,
    created_at: dt.datetime,
) -> Envelope:
    """Build and sign an envelope with the sender city's key."""
    # Truncate to the microsecond the wire form carries, so the signed bytes round-trip.
    created_at = parse_time(format_time(created_at))
    envelope = Envelope(
        message_id=message_id,
        sender=sender,
        receiver=receiver,
        stream=stream,
        seq=seq,
        created_at=created_at,
        payload_type=payload_type,
        body=body,
        key_id=key.key_id,
    )
    return Envelope(**{**_fields(envelope), "signature": key.sign(envelope.signed_bytes())})


def _fields(envelope: Envelope) -> dict[str, Any]:
    return {name: getattr(envelope, name) for name in Envelope.__slots__}


def verify(
    data: Any,
    *,
    trust: TrustList,
    members: frozenset[str],
    own_city: str,
    now: dt.datetime,
    window: dt.timedelta = DEFAULT_WINDOW,
    skew: dt.timedelta = DEFAULT_SKEW,
) -> Envelope:
    """Parse and authenticate a wire envelope for this node, or raise :class:`EnvelopeRejected`.

    ``members`` are the league's city codes and ``trust`` their keys (from the league file).
    """
    envelope = Envelope.from_wire(data)
    ids = {
        "sender": envelope.sender,
        "message_id": envelope.message_id,
        "key_id": envelope.key_id,
    }
    if envelope.sender not in members:
        raise rejected(
            "unknown-sender", f"city {envelope.sender} is not a member of this league", **ids
        )
    key = trust.get(envelope.key_id)
    if key is None or key.city_code != envelope.sender:
        raise rejected(
            "unknown-key",
            f"key {envelope.key_id} is not a key of city {envelope.sender} in the league file",
            **ids,
        )
    if not key.verify(envelope.signed_bytes(), envelope.signature):
        raise rejected("tampered", "the signature does not match the envelope's content", **ids)
    if not key.valid_at(envelope.created_at):
        raise rejected(
            "unknown-key",
            f"key {envelope.key_id} was not valid at {format_time(envelope.created_at)} "
            f"(from {key.not_before}, retired {key.retired_at})",
            **ids,
        )
    if envelope.receiver != own_city:
        raise rejected(
            "misrouted",
            f"the envelope is addressed to {envelope.receiver}; this node is {own_city}",
            **ids,
        )
    if envelope.created_at > now + skew:
        raise rejected(
            "clock-skew",
            f"created at {format_time(envelope.created_at)}, more than {skew} ahead of this "
            f"node's clock ({format_time(now)}); check NTP on both nodes",
            **ids,
        )
    if envelope.created_at < now - window:
        raise rejected(
            "expired",
            f"created at {format_time(envelope.created_at)}, older than the {window} window",
            **ids,
        )
    return envelope
